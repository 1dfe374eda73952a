import { ErrorCode, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditStore } from '../stores/audit.store.js';
import type { RefreshTokensStore } from '../stores/refresh-tokens.store.js';
import type { RevocationRecord, RevocationsStore } from '../stores/revocations.store.js';
import type { RevokeReason, SessionRecord, SessionsStore } from '../stores/sessions.store.js';
import type { UserRecord, UsersStore } from '../stores/users.store.js';
import type { AccessTokens, IssuedAccessToken } from '../tokens/access-token.js';
import { randomId } from '../tokens/ids.js';
import { generateRefreshToken, isWellFormedRefreshToken, type RefreshTokenKeys } from '../tokens/refresh-token.js';
import { coarseAddress } from './client-address.js';
import type { RevocationView } from './revocation-view.js';

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

export interface SessionManager {
  start(user: UserRecord, client: ClientInfo): Promise<IssuedSession>;
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
  /** Every live session of a user except `exceptSessionId`; returns how many were revoked. */
  revokeAll(userId: string, reason: RevokeReason, options?: { exceptSessionId?: string }): Promise<number>;
  listActive(userId: string): Promise<SessionRecord[]>;
  find(sessionId: string): Promise<SessionRecord | null>;
}

export interface SessionManagerDeps {
  readonly users: UsersStore;
  readonly sessions: SessionsStore;
  readonly refreshTokens: RefreshTokensStore;
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
}

/** A second of slack for the whole-second rounding of `iat` and `exp`. */
const ROUNDING_MS = 1000;

const invalidRefreshToken = (): GatewayError => new GatewayError(ErrorCode.REFRESH_TOKEN_INVALID);

export function createSessionManager(deps: SessionManagerDeps): SessionManager {
  const { users, sessions, refreshTokens, revocations, view, audit, accessTokens, refreshTokenKeys: keys, logger, now } = deps;

  async function issue(user: UserRecord, session: { id: string; expiresAt: Date }, refreshToken: string, refreshTokenExpiresAt: Date): Promise<IssuedSession> {
    const accessToken = await accessTokens.issue({
      userId: user.id,
      sessionId: session.id,
      roles: user.roles,
      notAfter: Math.floor(session.expiresAt.getTime() / 1000),
    });
    return { user, sessionId: session.id, accessToken, refreshToken, refreshTokenExpiresAt };
  }

  function idleExpiry(at: number, sessionExpiresAt: Date): Date {
    return new Date(Math.min(at + deps.refreshTokenTtlSeconds * 1000, sessionExpiresAt.getTime()));
  }

  async function start(user: UserRecord, client: ClientInfo): Promise<IssuedSession> {
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
    const [inserted, session, user] = await Promise.all([
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
    ]);
    // The session record is the authority on revocation (deleting a session's tokens is not atomic on every
    // server, so a token that slipped past the delete still finds its session revoked here); the in-memory view
    // also catches a revoke made through this process while the reads were in flight. A revoke elsewhere that
    // lands after the reads is enforced like any revocation: within the view's reach, and at the next refresh.
    if (!session || session.revokedAt !== null || session.expiresAt.getTime() <= at || view.isSessionRevoked(session.id)) {
      throw invalidRefreshToken();
    }
    if (!user) {
      await revoke(session.id, 'user-deleted');
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
    const entryLifetimeMs = (deps.accessTokenTtlSeconds + deps.clockToleranceSeconds) * 1000 + ROUNDING_MS;
    if (!wasLive && existing.revokedAt.getTime() + entryLifetimeMs <= at) {
      // Revoked long ago: every access token it had is expired, and its blocklist entry with them.
      await refreshTokens.deleteBySession(sessionId);
      return false;
    }
    // Every step is idempotent and repeated even for a session already marked revoked, so a revoke that failed
    // halfway (database down after the first write) is completed by the next attempt.
    // Order matters. The session record first: from then on no refresh succeeds. Then the blocklist entry,
    // which makes every gateway refuse the session's access tokens; its unique insert also decides which of
    // several concurrent revokes counts this session as ended. The token records last: they are only garbage
    // once the session is revoked.
    if (wasLive) await sessions.revoke(sessionId, new Date(at), reason);
    const entry: RevocationRecord = {
      kind: 'session',
      id: sessionId,
      at: new Date(at),
      // The last access token of this session was issued at the latest now; it is accepted until its expiry
      // plus the clock tolerance. After that the entry protects nothing.
      expiresAt: new Date(at + entryLifetimeMs),
    };
    // Of concurrent revokes of one session exactly one inserts the entry: that one counts it as ended (its own
    // reading of revokedAt may already show another caller's write).
    const added = await revocations.add(entry);
    view.record([entry]);
    await refreshTokens.deleteBySession(sessionId);
    return added === 'inserted';
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
    const live = await sessions.listActive(userId, new Date(now()));
    let revoked = 0;
    // One at a time: a user has a handful of sessions, and each revoke is ordered internally.
    for (const session of live) {
      if (session.id === options.exceptSessionId) continue;
      if (await revoke(session.id, reason)) revoked++;
    }
    return revoked;
  }

  async function listActive(userId: string): Promise<SessionRecord[]> {
    const live = await sessions.listActive(userId, new Date(now()));
    const lastIssued = await refreshTokens.lastIssuedAt(live.map((session) => session.id));
    return live.map((session) => {
      const issued = lastIssued.get(session.id);
      return issued && issued > session.lastUsedAt ? { ...session, lastUsedAt: issued } : session;
    });
  }

  return {
    start,
    refresh,
    sessionOf,
    revoke,
    revokeAccessToken,
    revokeAll,
    listActive,
    find: (sessionId: string): Promise<SessionRecord | null> => sessions.find(sessionId),
  };
}
