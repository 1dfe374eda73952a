import { ErrorCode, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditStore } from '../stores/audit.store.js';
import type { RefreshTokensStore } from '../stores/refresh-tokens.store.js';
import type { RevocationRecord, RevocationsStore, UserRevocation } from '../stores/revocations.store.js';
import type { SessionListsStore } from '../stores/session-lists.store.js';
import type { RevokeReason, SessionRecord, SessionsStore } from '../stores/sessions.store.js';
import type { SessionStepUpsStore } from '../stores/session-step-ups.store.js';
import type { UserRecord, UsersStore } from '../stores/users.store.js';
import type { AccessTokens, IssuedAccessToken } from '../tokens/access-token.js';
import { randomId } from '../tokens/ids.js';
import { generateRefreshToken, isWellFormedRefreshToken, type RefreshTokenKeys } from '../tokens/refresh-token.js';
import { coarseAddress } from './client-address.js';
import type { RevocationView } from './revocation-view.js';
import { createSessionLimit } from './session-limit.js';

/** What the transport may record about the client, for the session list and the audit log. */
export interface ClientInfo {
  readonly userAgent: string | null;
  readonly address: string | null;
}

/** A session's credentials as handed to the client: at login and at every refresh. */
export interface IssuedSession {
  readonly user: UserRecord;
  readonly sessionId: string;
  readonly accessToken: IssuedAccessToken;
  readonly refreshToken: string;
  readonly refreshTokenExpiresAt: Date;
}

/** How a person proved who they are: RFC 8176 `amr` values (pwd, otp, mfa, hwk, swk, user, fed). */
export interface SignInProof {
  readonly amr: readonly string[];
}

/** A password sign-in; the default of `start`. */
export const PASSWORD_PROOF: SignInProof = Object.freeze({ amr: Object.freeze(['pwd']) });

export interface SessionManager {
  /** A new session; `proof` says how the person signed in (a password by default). */
  start(user: UserRecord, client: ClientInfo, proof?: SignInProof): Promise<IssuedSession>;
  /**
   * A fresh proof on a live session (re-authentication, a second factor): records the new `amr` and `auth_time`
   * for every later refresh of the session, and issues new credentials for it (a refresh token of its own, beside
   * any the session already has). REFRESH_TOKEN_INVALID when the session is not live.
   */
  stepUp(user: UserRecord, sessionId: string, proof: SignInProof): Promise<IssuedSession>;
  /**
   * Rotates a refresh token. Of any number of concurrent calls with one token exactly one rotation is stored;
   * the others (and retries, however late) get the same successor while it is unspent (within the grace window
   * only, for a token that was itself handed out twice); anything else presenting a rotated token revokes the
   * session (REFRESH_TOKEN_REUSED).
   */
  refresh(refreshToken: string, client: ClientInfo): Promise<IssuedSession>;
  /** The session a refresh token belongs to, if the token is live; for logout without an access token. */
  sessionOf(refreshToken: string): Promise<{ sessionId: string; userId: string } | null>;
  revoke(sessionId: string, reason: RevokeReason): Promise<boolean>;
  /** Blocklists one access token until it expires (logout revokes its session too; this closes the gap at once). */
  revokeAccessToken(tokenId: string, expiresAt: number): Promise<void>;
  /**
   * Every live session of a user except `exceptSessionId`; returns how many were revoked. A constant number of
   * round trips whatever the number of sessions: one update marks them all, and one user-wide blocklist entry
   * refuses every access token the user holds (but the excepted session's).
   */
  revokeAll(userId: string, reason: RevokeReason, options?: { exceptSessionId?: string }): Promise<number>;
  /**
   * After the user's roles changed (their token generation moved to `belowGeneration`): every older access
   * token keeps only those of its roles that are still in `roles`, on every instance within the view's reach.
   */
  restrictRoles(userId: string, belowGeneration: number, roles: readonly string[]): Promise<void>;
  /** The newest MAX_SESSIONS_PER_USER live sessions, oldest first. */
  listActive(userId: string): Promise<SessionRecord[]>;
  find(sessionId: string): Promise<SessionRecord | null>;
}

export interface SessionManagerDeps {
  readonly users: UsersStore;
  readonly sessions: SessionsStore;
  /** Each user's live sessions, read by `_id`, for MAX_SESSIONS_PER_USER at login (auth/session-limit.ts). */
  readonly sessionLists: SessionListsStore;
  readonly refreshTokens: RefreshTokensStore;
  readonly stepUps: SessionStepUpsStore;
  readonly revocations: RevocationsStore;
  readonly view: RevocationView;
  readonly audit: AuditStore;
  readonly accessTokens: AccessTokens;
  readonly refreshTokenKeys: RefreshTokenKeys;
  readonly logger: Logger;
  readonly now: () => number;
  readonly refreshTokenTtlSeconds: number;
  readonly sessionMaxAgeSeconds: number;
  readonly refreshGraceSeconds: number;
  readonly accessTokenTtlSeconds: number;
  readonly clockToleranceSeconds: number;
  /** A login beyond this many live sessions ends the oldest. */
  readonly maxSessionsPerUser: number;
}

/** A second of slack for the whole-second rounding of `iat` and `exp`. */
const ROUNDING_MS = 1000;
/**
 * How far apart instances' clocks may be (docs/sessions.md). A session or user-wide entry is dated by its
 * writer's clock, while the tokens it refuses were dated by their issuers' and are checked by a third clock:
 * the entry must outlive them by this much too.
 */
export const ALLOWED_CLOCK_SKEW_MS = 30_000;

const invalidRefreshToken = (): GatewayError => new GatewayError(ErrorCode.REFRESH_TOKEN_INVALID);

export function createSessionManager(deps: SessionManagerDeps): SessionManager {
  const { users, sessions, refreshTokens, stepUps, revocations, view, audit, accessTokens, refreshTokenKeys: keys, logger, now } = deps;

  /** An entry for a session or a user must outlive every access token issued up to now, on any instance's clock. */
  const entryLifetimeMs = (deps.accessTokenTtlSeconds + deps.clockToleranceSeconds) * 1000 + ALLOWED_CLOCK_SKEW_MS + ROUNDING_MS;
  const limit = createSessionLimit({
    lists: deps.sessionLists,
    sessions,
    view,
    logger,
    now,
    maxSessionsPerUser: deps.maxSessionsPerUser,
    listLifetimeMs: deps.sessionMaxAgeSeconds * 1000,
  });

  async function issue(
    user: UserRecord,
    session: { id: string; expiresAt: Date; amr: readonly string[]; authTime: Date },
    refreshToken: string,
    refreshTokenExpiresAt: Date,
  ): Promise<IssuedSession> {
    const accessToken = await accessTokens.issue({
      userId: user.id,
      sessionId: session.id,
      roles: user.roles,
      generation: user.tokenGeneration,
      notAfter: Math.floor(session.expiresAt.getTime() / 1000),
      amr: session.amr,
      authTime: Math.floor(session.authTime.getTime() / 1000),
    });
    return { user, sessionId: session.id, accessToken, refreshToken, refreshTokenExpiresAt };
  }

  function idleExpiry(at: number, sessionExpiresAt: Date): Date {
    return new Date(Math.min(at + deps.refreshTokenTtlSeconds * 1000, sessionExpiresAt.getTime()));
  }

  /** The session's proof, or its newest step-up when there is one. */
  function latestProof(session: SessionRecord, stepUp: { amr: readonly string[]; authTime: Date } | null): SessionRecord {
    return stepUp && stepUp.authTime >= session.authTime ? { ...session, amr: stepUp.amr, authTime: stepUp.authTime } : session;
  }

  async function start(user: UserRecord, client: ClientInfo, proof: SignInProof = PASSWORD_PROOF): Promise<IssuedSession> {
    const at = now();
    const session: SessionRecord = {
      id: randomId(),
      userId: user.id,
      createdAt: new Date(at),
      lastUsedAt: new Date(at),
      expiresAt: new Date(at + deps.sessionMaxAgeSeconds * 1000),
      revokedAt: null,
      userAgent: client.userAgent,
      clientAddress: coarseAddress(client.address),
      amr: [...proof.amr],
      authTime: new Date(at),
    };
    const refreshToken = generateRefreshToken();
    const expiresAt = idleExpiry(at, session.expiresAt);
    // The token first, the session last: if the database goes away in between, what is left is a token record
    // nobody holds, whose session does not exist (refused, and swept at its expiry), never a session in the
    // user's list that no client can use.
    await refreshTokens.insert({
      tokenHash: keys.hash(refreshToken),
      sessionId: session.id,
      userId: user.id,
      generation: 0,
      expiresAt,
      sessionExpiresAt: session.expiresAt,
      createdAt: new Date(at),
    });
    await sessions.create(session);
    // Past the limit the oldest sessions make room: normally exactly one. Read by `_id` (not a query on userId,
    // which FerretDB answers with a scan), and exact under concurrent logins.
    const beyond = await limit.admit(user.id, { id: session.id, expiresAt: session.expiresAt });
    for (const id of beyond) if (id !== session.id) await revoke(id, 'session-limit');
    return issue(user, session, refreshToken, expiresAt);
  }

  async function refresh(refreshToken: string, client: ClientInfo): Promise<IssuedSession> {
    const at = now();
    if (!isWellFormedRefreshToken(refreshToken)) throw invalidRefreshToken();
    // Round trip 1: the presented token.
    const record = await refreshTokens.findActive(keys.hash(refreshToken), new Date(at));
    if (!record) throw invalidRefreshToken();
    const successor = keys.successor(refreshToken);
    const successorHash = keys.hash(successor);
    const expiresAt = idleExpiry(at, record.sessionExpiresAt);
    // Round trip 2: the successor's insert, which decides the one rotation, together with the reads that may
    // still refuse it. A successor inserted for a session that turns out to be ended is garbage nobody can use:
    // every refresh checks the session, and the TTL index removes it.
    const [inserted, storedSession, user, stepUp] = await Promise.all([
      refreshTokens.insert({
        tokenHash: successorHash,
        sessionId: record.sessionId,
        userId: record.userId,
        generation: record.generation + 1,
        expiresAt,
        sessionExpiresAt: record.sessionExpiresAt,
        createdAt: new Date(at),
      }),
      sessions.find(record.sessionId),
      users.findById(record.userId),
      stepUps.latest(record.sessionId),
    ]);
    // A refresh keeps how the session signed in, and the newest re-authentication on it.
    const session = storedSession && latestProof(storedSession, stepUp);
    // The session record is the authority on revocation (deleting a session's tokens is not atomic on every
    // server, so a token that slipped past the delete still finds its session revoked here); the in-memory view
    // also catches a revoke made through this process while the reads were in flight. A revoke elsewhere that
    // lands after the reads is enforced like any revocation: within the view's reach, and at the next refresh.
    if (!session || session.expiresAt.getTime() <= at || view.isSessionRevoked(session.id)) throw invalidRefreshToken();
    if (user && view.wouldRevoke({ userId: user.id, sessionId: session.id, generation: user.tokenGeneration })) throw invalidRefreshToken();
    if (session.revokedAt !== null) {
      // Marked revoked, yet a refresh token is still stored and no entry is known: a revoke that failed
      // halfway. Finish it (entry, token records) before refusing, so its access tokens stop working too.
      await revoke(session.id, 'logout');
      throw invalidRefreshToken();
    }
    if (!user) {
      await revoke(session.id, 'user-deleted');
      throw invalidRefreshToken();
    }
    if (user.disabled) {
      await revoke(session.id, 'account-disabled');
      throw invalidRefreshToken();
    }
    if (inserted === 'inserted') return issue(user, session, successor, expiresAt);

    // Somebody already rotated this token, so its successor exists. If the successor is unspent (no refresh has
    // been made from it), nobody holds a newer token: this is a second tab, or a retry after a lost response,
    // however late, and it gets the very same successor for as long as that is unspent and unexpired. One
    // exception keeps reuse detection within one refresh of what the grace window alone gave: a token that was
    // itself handed out twice may be held by two parties (its owner and a thief who presented the token before
    // it), so once it is spent it gets the same answer only within REFRESH_GRACE_SECONDS. Anything else presenting a
    // spent token (an older one, or this one after its successor was used) is reuse: a theft signal.
    // REFRESH_GRACE_SECONDS=0 switches every second answer off.
    if (deps.refreshGraceSeconds > 0) {
      const [existing, rotatedAgain] = await Promise.all([
        refreshTokens.findActive(successorHash, new Date(at)),
        refreshTokens.findActive(keys.hash(keys.successor(successor)), new Date(at)),
      ]);
      const withinGrace = existing !== null && at - existing.createdAt.getTime() <= deps.refreshGraceSeconds * 1000;
      if (existing && !rotatedAgain && (withinGrace || !record.reissued)) {
        // Marked before it is answered: whoever presents the successor after it is spent meets the grace rule.
        await refreshTokens.markReissued(successorHash);
        return issue(user, session, successor, existing.expiresAt);
      }
    }
    await revoke(session.id, 'refresh-token-reused');
    await audit
      .record({
        type: 'refresh-token-reused',
        userId: user.id,
        sessionId: session.id,
        at: new Date(at),
        clientAddress: coarseAddress(client.address),
        userAgent: client.userAgent,
        detail: `generation ${record.generation} presented after its successor was used, or after its grace ended when it had been handed out twice`,
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event'));
    logger.warn({ sessionId: session.id, userId: user.id, generation: record.generation }, 'refresh token reused: session revoked');
    throw new GatewayError(ErrorCode.REFRESH_TOKEN_REUSED);
  }

  async function sessionOf(refreshToken: string): Promise<{ sessionId: string; userId: string } | null> {
    if (!isWellFormedRefreshToken(refreshToken)) return null;
    const record = await refreshTokens.findActive(keys.hash(refreshToken), new Date(now()));
    return record ? { sessionId: record.sessionId, userId: record.userId } : null;
  }

  async function revoke(sessionId: string, reason: RevokeReason): Promise<boolean> {
    const at = now();
    const existing = await sessions.find(sessionId);
    if (!existing) return false;
    const wasLive = existing.revokedAt === null;
    if (!wasLive && existing.revokedAt.getTime() + entryLifetimeMs <= at) {
      // Revoked long ago: every access token it had is expired, and its blocklist entry with them.
      refreshTokens.deleteBySessionsLater([sessionId]);
      return false;
    }
    // Every step is idempotent and repeated even for a session already marked revoked, so a revoke that failed
    // halfway (database down after the first write) is completed by the next attempt.
    // Order matters. The session record first: from then on no refresh succeeds. Then the blocklist entry,
    // which makes every gateway refuse the session's access tokens. The end marker and the token records last:
    // the marker's unique insert decides which of several concurrent revokes counts this session as ended, and
    // the tokens are only garbage once the session is revoked.
    if (wasLive) await sessions.revoke(sessionId, new Date(at), reason);
    const entry: RevocationRecord = {
      kind: 'session',
      id: sessionId,
      at: new Date(at),
      // The last access token of this session was issued at the latest now (by its issuer's clock); it is
      // accepted until its expiry plus the clock tolerance, on a checker's clock. After that the entry protects
      // nothing.
      expiresAt: new Date(at + entryLifetimeMs),
    };
    await revocations.add(entry);
    view.record([entry]);
    // Its refresh tokens are garbage from here on (the session record refuses them): deleted in a batch soon.
    refreshTokens.deleteBySessionsLater([sessionId]);
    // Of concurrent revokes of one session exactly one claims its end: that one counts it as ended (its own
    // reading of revokedAt may already show another caller's write).
    const [claimed] = await Promise.all([
      sessions.claimEnds([existing]),
      // An ended session must stop counting towards MAX_SESSIONS_PER_USER. Pushed out by a login, it already has.
      wasLive && reason !== 'session-limit' ? forgetSession(existing.userId, sessionId) : undefined,
    ]);
    return claimed.length === 1;
  }

  /** A failure here only leaves an ended session in the list; a login checks an entry before pushing it out. */
  async function forgetSession(userId: string, sessionId: string): Promise<void> {
    await limit.forget(userId, [sessionId]).catch((error: unknown) => logger.warn({ err: error, userId }, 'could not drop an ended session from its user\'s list'));
  }

  async function revokeAccessToken(tokenId: string, expiresAt: number): Promise<void> {
    const at = now();
    const entry: RevocationRecord = {
      kind: 'token',
      id: tokenId,
      at: new Date(at),
      expiresAt: new Date(Math.max(expiresAt * 1000, at) + deps.clockToleranceSeconds * 1000 + ROUNDING_MS),
    };
    await revocations.add(entry);
    view.record([entry]);
  }

  async function revokeAll(userId: string, reason: RevokeReason, options: { exceptSessionId?: string } = {}): Promise<number> {
    const at = now();
    const exceptSessionId = options.exceptSessionId ?? null;
    const live = (await sessions.listActive(userId, new Date(at))).filter((session) => session.id !== exceptSessionId);
    const ids = live.map((session) => session.id);
    // The same order as revoke(), for all sessions at once. The session records first (no refresh succeeds
    // from then on), while the user's token generation moves on; then one user-wide entry that refuses every
    // older access token of the user, sessions marked by an earlier revoke that failed halfway included; then
    // the end markers (the count) and the token records.
    const [generation] = await Promise.all([users.advanceTokenGeneration(userId), sessions.revokeMany(ids, new Date(at), reason)]);
    await writeUserEntry({
      kind: 'user',
      id: userId,
      at: new Date(at),
      expiresAt: new Date(at + entryLifetimeMs),
      // A deleted user has no generation: refuse every token with their id.
      belowGeneration: generation ?? Number.MAX_SAFE_INTEGER,
      exceptSessionId,
      roles: null,
    });
    refreshTokens.deleteBySessionsLater(ids);
    const [claimed] = await Promise.all([sessions.claimEnds(live), limit.invalidate(userId)]);
    return claimed.length;
  }

  async function restrictRoles(userId: string, belowGeneration: number, roles: readonly string[]): Promise<void> {
    const at = now();
    await writeUserEntry({
      kind: 'user',
      id: userId,
      at: new Date(at),
      expiresAt: new Date(at + entryLifetimeMs),
      belowGeneration,
      exceptSessionId: null,
      roles: [...roles],
    });
  }

  async function writeUserEntry(entry: UserRevocation): Promise<void> {
    await revocations.add(entry);
    view.record([entry]);
  }

  async function listActive(userId: string): Promise<SessionRecord[]> {
    const live = await sessions.listActive(userId, new Date(now()), { limit: deps.maxSessionsPerUser });
    const lastIssued = await refreshTokens.lastIssuedAt(live.map((session) => session.id));
    return live.map((session) => {
      const issued = lastIssued.get(session.id);
      return issued && issued > session.lastUsedAt ? { ...session, lastUsedAt: issued } : session;
    });
  }

  async function stepUp(user: UserRecord, sessionId: string, proof: SignInProof): Promise<IssuedSession> {
    const at = now();
    const session = await sessions.find(sessionId);
    if (!session || session.userId !== user.id || session.revokedAt !== null || session.expiresAt.getTime() <= at || view.isSessionRevoked(sessionId)) {
      throw invalidRefreshToken();
    }
    const proven: SessionRecord = { ...session, amr: [...proof.amr], authTime: new Date(at) };
    await stepUps.insert({ sessionId, amr: proven.amr, authTime: proven.authTime, expiresAt: session.expiresAt });
    // A refresh token of its own (generation 0 of a new chain of the same session): the client's current one may
    // be out of reach here (an HttpOnly cookie scoped to /graphql/auth), and stays valid for other tabs.
    const refreshToken = generateRefreshToken();
    const expiresAt = idleExpiry(at, session.expiresAt);
    await refreshTokens.insert({
      tokenHash: keys.hash(refreshToken),
      sessionId,
      userId: user.id,
      generation: 0,
      expiresAt,
      sessionExpiresAt: session.expiresAt,
      createdAt: new Date(at),
    });
    return issue(user, proven, refreshToken, expiresAt);
  }

  return {
    start,
    stepUp,
    refresh,
    sessionOf,
    revoke,
    revokeAccessToken,
    revokeAll,
    restrictRoles,
    listActive,
    find: (sessionId: string): Promise<SessionRecord | null> => sessions.find(sessionId),
  };
}
