import { ErrorCode, GatewayError, TokenRejection } from '../errors.js';
import type { SessionRecord } from '../stores/sessions.store.js';
import type { Logger } from '../logger.js';
import type { AuditEvent, AuditStore } from '../stores/audit.store.js';
import { EmailTakenError, type UserRecord, type UsersStore } from '../stores/users.store.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { AccountService } from './account-service.js';
import { checkEmail, checkNewPassword, checkPasswordForSignIn } from './credentials.js';
import type { LoginThrottle } from './login-throttle.js';
import type { PasswordHasher } from './password.js';
import type { RevocationView } from './revocation-view.js';
import { parseRole, Role } from './roles.js';
import type { ClientInfo, IssuedSession, SessionManager } from './session-manager.js';

export type { ClientInfo, IssuedSession } from './session-manager.js';

/** Who is calling, as far as the access token says. Built on every request without a database read. */
export type Viewer =
  | { readonly kind: 'guest' }
  | { readonly kind: 'rejected'; readonly reason: TokenRejection }
  /** The revocation view is too far behind to vouch for any token (see RevocationView.maxLagMs). */
  | { readonly kind: 'unavailable' }
  | SignedInViewer;

export interface SignedInViewer {
  readonly kind: 'user';
  readonly userId: string;
  readonly sessionId: string;
  readonly tokenId: string;
  readonly roles: readonly string[];
  readonly expiresAt: number;
}

/** Who makes an administrative change, for the audit log: an administrator's session, or the operator's CLI. */
export type AdminActor = { readonly kind: 'admin'; readonly viewer: SignedInViewer; readonly client: ClientInfo } | { readonly kind: 'cli' };

export interface AuthService {
  signIn(input: { email: string; password: string; client: ClientInfo }): Promise<IssuedSession>;
  /**
   * Creates an account when sign-up is enabled. It answers the same whether or not the email is taken (the
   * caller then signs in), so sign-up cannot be used to find out who has an account.
   */
  signUp(input: { email: string; password: string; client: ClientInfo }): Promise<void>;
  /** For the CLI and administrators: unlike signUp it reports a taken email. */
  createUser(input: { email: string; password: string; roles: readonly Role[] }): Promise<UserRecord>;
  authenticate(accessToken: string | undefined): Promise<Viewer>;
  refresh(input: { refreshToken: string; client: ClientInfo }): Promise<IssuedSession>;
  /**
   * Ends the caller's session, found from its access token (an expired but genuine one too: `accessToken` is
   * the token as presented) or else its refresh token. Idempotent.
   */
  logout(input: { viewer: Viewer; refreshToken: string | undefined; accessToken?: string | undefined }): Promise<void>;
  listSessions(viewer: SignedInViewer): Promise<SessionRecord[]>;
  /** The viewer's own session (one read by id), or null once it has ended: live connections read its absolute end. */
  currentSession(viewer: SignedInViewer): Promise<SessionRecord | null>;
  /** One of the viewer's own sessions, by id. NOT_FOUND for anybody else's, exactly as for none at all. */
  revokeSession(viewer: SignedInViewer, sessionId: string): Promise<void>;
  revokeOtherSessions(viewer: SignedInViewer): Promise<number>;
  logoutEverywhere(viewer: SignedInViewer): Promise<number>;
  revokeUserSessions(userId: string): Promise<number>;
  /** Checks the current password, stores the new one, and ends every other session of the user. */
  changePassword(viewer: SignedInViewer, input: { currentPassword: string; newPassword: string; client: ClientInfo }): Promise<number>;
  getUser(userId: string): Promise<UserRecord | null>;
  listUsers(options: { limit: number }): Promise<UserRecord[]>;
  /** Password reset and email verification (auth/account-service.ts). */
  requestPasswordReset(input: { email: string; client: ClientInfo }): Promise<void>;
  resetPassword(input: { token: string; newPassword: string; client: ClientInfo }): Promise<void>;
  requestEmailVerification(viewer: SignedInViewer, client: ClientInfo): Promise<void>;
  verifyEmail(input: { token: string; client: ClientInfo }): Promise<void>;
  isEmailVerified(user: { id: string; email: string }): Promise<boolean>;
  /** For the CLI: the account with this email (normalised here). */
  findUserByEmail(email: string): Promise<UserRecord | null>;
  /**
   * Replaces a user's roles (each must be a known role; at least one). Tokens issued before lose any removed
   * role on every instance within the revocation view's reach; NOT_FOUND for an unknown user.
   */
  setUserRoles(actor: AdminActor, userId: string, roles: readonly string[]): Promise<UserRecord>;
  /** Disables an account: it cannot sign in or refresh, and every session and access token of it ends. */
  disableUser(actor: AdminActor, userId: string): Promise<UserRecord>;
  /** Lets a disabled account sign in again (its old sessions stay ended). */
  enableUser(actor: AdminActor, userId: string): Promise<UserRecord>;
}

export interface AuthServiceDeps {
  readonly users: UsersStore;
  readonly sessions: SessionManager;
  readonly view: RevocationView;
  readonly passwords: PasswordHasher;
  readonly throttle: LoginThrottle;
  readonly accessTokens: AccessTokens;
  readonly audit: AuditStore;
  readonly logger: Logger;
  readonly signUpEnabled: boolean;
  /** The configured roles (ROLES plus the built-in USER and ADMIN): setUserRoles accepts only these. */
  readonly knownRoles: readonly Role[];
  readonly accounts: AccountService;
  /** Login of an account with an unverified address answers EMAIL_NOT_VERIFIED, once the password was right. */
  readonly requireVerifiedEmail: boolean;
  readonly now: () => number;
}

const GUEST: Viewer = Object.freeze({ kind: 'guest' });
const UNAVAILABLE: Viewer = Object.freeze({ kind: 'unavailable' });
const REVOKED: Viewer = Object.freeze({ kind: 'rejected', reason: TokenRejection.TOKEN_INVALID });

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const { users, sessions, view, passwords, throttle, accessTokens, accounts, audit, logger, now } = deps;

  async function signIn(input: { email: string; password: string; client: ClientInfo }): Promise<IssuedSession> {
    const email = checkEmail(input.email);
    checkPasswordForSignIn(input.password);
    // Counted before the password is checked, for known and unknown emails alike; an attempt the throttle refuses
    // reads no account.
    const ticket = await throttle.beforeAttempt(email, input.client.address);
    const found = await users.findWithPasswordHash(email);
    // Unknown email and wrong password take one argon2 verify each and end in one error: neither the answer
    // nor its timing tells an attacker which accounts exist.
    const valid = found ? await passwords.verify(found.passwordHash, input.password) : await passwords.verifyNothing(input.password);
    // A disabled account answers exactly like a wrong password, and counts as a failed attempt: the answer
    // confirms neither that the account exists nor that a guessed password is right.
    if (!found || !valid || found.user.disabled) {
      await throttle.afterFailure(ticket);
      throw new GatewayError(ErrorCode.INVALID_CREDENTIALS);
    }
    if (deps.requireVerifiedEmail && !(await accounts.isEmailVerified(found.user))) {
      // Only a caller who knows the password gets here, so this answer enumerates nothing. A fresh link goes to
      // the account's own address (capped per mailbox): otherwise an account created before verification was
      // required could never sign in again.
      await throttle.afterSuccess(ticket);
      accounts.sendVerificationLater(found.user, input.client);
      throw new GatewayError(ErrorCode.EMAIL_NOT_VERIFIED);
    }
    const [session] = await Promise.all([
      sessions.start(found.user, input.client),
      throttle.afterSuccess(ticket),
      passwords.needsRehash(found.passwordHash) ? rehash(found.user.id, found.passwordHash, input.password) : Promise.resolve(),
    ]);
    return session;
  }

  /**
   * A hash made before ARGON2_* was raised verifies at the old, cheaper cost, while an unknown email pays the new
   * one: a timing oracle until the account's hash is made again, which only a correct password allows.
   */
  async function rehash(userId: string, previous: string, password: string): Promise<void> {
    try {
      await users.replacePasswordHash(userId, previous, await passwords.hash(password));
    } catch {
      // The sign-in already succeeded; the next one tries again.
    }
  }

  async function signUp(input: { email: string; password: string; client: ClientInfo }): Promise<void> {
    if (!deps.signUpEnabled) throw new GatewayError(ErrorCode.SIGNUP_DISABLED);
    const email = checkEmail(input.email);
    checkNewPassword(input.password);
    await throttle.beforeAddressAttempt(input.client.address);
    // Hash before looking: a taken email costs the same time as a new one.
    const passwordHash = await passwords.hash(input.password);
    try {
      const created = await users.create({ email, passwordHash, roles: [Role.USER] });
      // After the answer, like every account mail: a taken email answers the same, in the same time.
      accounts.sendVerificationLater(created, input.client);
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
    }
  }

  async function createUser(input: { email: string; password: string; roles: readonly Role[] }): Promise<UserRecord> {
    const email = checkEmail(input.email);
    checkNewPassword(input.password);
    const passwordHash = await passwords.hash(input.password);
    const user = await users.create({ email, passwordHash, roles: input.roles.length > 0 ? input.roles : [Role.USER] });
    // An operator vouches for the address of an account they create.
    await accounts.vouchFor(user);
    return user;
  }

  async function authenticate(accessToken: string | undefined): Promise<Viewer> {
    if (accessToken === undefined) return GUEST;
    const result = await accessTokens.verify(accessToken);
    if (!result.ok) return { kind: 'rejected', reason: result.reason };
    const { claims } = result;
    // In memory: the revocation view answers without a database round trip, roles taken away since included.
    const revocation = view.check(claims);
    if (revocation === 'unavailable') return UNAVAILABLE;
    if (revocation === 'revoked') return REVOKED;
    return {
      kind: 'user',
      userId: claims.userId,
      sessionId: claims.sessionId,
      tokenId: claims.tokenId,
      roles: view.currentRoles(claims),
      expiresAt: claims.expiresAt,
    };
  }

  async function logout(input: { viewer: Viewer; refreshToken: string | undefined; accessToken?: string | undefined }): Promise<void> {
    const { viewer } = input;
    if (viewer.kind === 'user') {
      await sessions.revoke(viewer.sessionId, 'logout');
      await sessions.revokeAccessToken(viewer.tokenId, viewer.expiresAt);
      return;
    }
    // An expired access token still names its session, and at /graphql (where the refresh cookie never
    // travels) it is all a client has. Genuine means signed by us: a forged or altered token ends nothing.
    if (viewer.kind === 'rejected' && viewer.reason === TokenRejection.TOKEN_EXPIRED && input.accessToken !== undefined) {
      const expired = await accessTokens.readExpiredClaims(input.accessToken);
      if (expired) await sessions.revoke(expired.sessionId, 'logout');
    }
    const owner = input.refreshToken === undefined ? null : await sessions.sessionOf(input.refreshToken);
    if (owner) await sessions.revoke(owner.sessionId, 'logout');
  }

  async function revokeSession(viewer: SignedInViewer, sessionId: string): Promise<void> {
    const session = await sessions.find(sessionId);
    const notFound = (): GatewayError => new GatewayError(ErrorCode.NOT_FOUND, { field: 'id', detail: 'No such session.' });
    if (!session || session.userId !== viewer.userId || session.expiresAt.getTime() <= now()) throw notFound();
    if (session.revokedAt !== null) {
      // Already marked revoked; a revoke that failed halfway may have left its access tokens working. Finish
      // it (idempotent, and a no-op for one long done), then answer as for any session that is not live.
      await sessions.revoke(sessionId, 'revoked-by-user');
      throw notFound();
    }
    await sessions.revoke(sessionId, 'revoked-by-user');
  }

  async function changePassword(viewer: SignedInViewer, input: { currentPassword: string; newPassword: string; client: ClientInfo }): Promise<number> {
    checkPasswordForSignIn(input.currentPassword);
    checkNewPassword(input.newPassword);
    const user = await users.findById(viewer.userId);
    // A stolen session must not become an unthrottled oracle for the current password.
    const ticket = user ? await throttle.beforeAttempt(user.email, input.client.address) : null;
    const found = user ? await users.findWithPasswordHash(user.email) : null;
    const valid = found ? await passwords.verify(found.passwordHash, input.currentPassword) : false;
    if (!found || !valid) {
      if (ticket) await throttle.afterFailure(ticket);
      throw new GatewayError(ErrorCode.INVALID_CREDENTIALS);
    }
    if (ticket) await throttle.afterSuccess(ticket);
    await users.updatePassword(viewer.userId, await passwords.hash(input.newPassword), new Date(now()));
    return sessions.revokeAll(viewer.userId, 'password-changed', { exceptSessionId: viewer.sessionId });
  }

  function requireUser(found: UserRecord | null): UserRecord {
    if (!found) throw new GatewayError(ErrorCode.NOT_FOUND, { field: 'userId', detail: 'No such user.' });
    return found;
  }

  async function recordAdminEvent(actor: AdminActor, type: AuditEvent['type'], userId: string, detail: string): Promise<void> {
    const by = actor.kind === 'cli' ? 'by the operator CLI' : `by administrator ${actor.viewer.userId}`;
    await audit
      .record({
        type,
        userId,
        sessionId: actor.kind === 'admin' ? actor.viewer.sessionId : null,
        at: new Date(now()),
        clientAddress: actor.kind === 'admin' ? actor.client.address : null,
        userAgent: actor.kind === 'admin' ? actor.client.userAgent : null,
        detail: `${detail} ${by}`,
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event'));
  }

  async function setUserRoles(actor: AdminActor, userId: string, roleNames: readonly string[]): Promise<UserRecord> {
    const roles: Role[] = [];
    for (const name of roleNames) {
      const role = parseRole(name, deps.knownRoles);
      if (!role) throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'roles', detail: `Unknown role; use one of the known roles.` });
      if (!roles.includes(role)) roles.push(role);
    }
    if (roles.length === 0) throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'roles', detail: 'Give at least one role.' });
    const before = requireUser(await users.findById(userId));
    const updated = requireUser(await users.setRoles(userId, roles));
    // Tokens issued before the change carry the old roles in their `gen`-stamped claims: narrow them everywhere.
    await sessions.restrictRoles(userId, updated.tokenGeneration, roles);
    await recordAdminEvent(actor, 'roles-changed', userId, `roles ${before.roles.join(',')} -> ${updated.roles.join(',')}`);
    return updated;
  }

  async function disableUser(actor: AdminActor, userId: string): Promise<UserRecord> {
    const updated = requireUser(await users.disable(userId));
    // The flag first: from then on no login or refresh succeeds. Then every session and access token ends.
    const ended = await sessions.revokeAll(userId, 'account-disabled');
    await recordAdminEvent(actor, 'account-disabled', userId, `account disabled, ${ended} session${ended === 1 ? '' : 's'} ended,`);
    return updated;
  }

  async function enableUser(actor: AdminActor, userId: string): Promise<UserRecord> {
    const updated = requireUser(await users.enable(userId));
    await recordAdminEvent(actor, 'account-enabled', userId, 'account enabled');
    return updated;
  }

  return {
    signIn,
    signUp,
    createUser,
    authenticate,
    refresh: (input: { refreshToken: string; client: ClientInfo }): Promise<IssuedSession> => sessions.refresh(input.refreshToken, input.client),
    logout,
    listSessions: (viewer: SignedInViewer): Promise<SessionRecord[]> => sessions.listActive(viewer.userId),
    async currentSession(viewer: SignedInViewer): Promise<SessionRecord | null> {
      const session = await sessions.find(viewer.sessionId);
      if (!session || session.userId !== viewer.userId || session.revokedAt !== null || session.expiresAt.getTime() <= now()) return null;
      return session;
    },
    revokeSession,
    revokeOtherSessions: (viewer: SignedInViewer): Promise<number> => sessions.revokeAll(viewer.userId, 'revoked-by-user', { exceptSessionId: viewer.sessionId }),
    logoutEverywhere: (viewer: SignedInViewer): Promise<number> => sessions.revokeAll(viewer.userId, 'revoked-by-user'),
    revokeUserSessions: (userId: string): Promise<number> => sessions.revokeAll(userId, 'revoked-by-admin'),
    changePassword,
    getUser: (userId: string): Promise<UserRecord | null> => users.findById(userId),
    listUsers: (options: { limit: number }): Promise<UserRecord[]> => users.list(options),
    requestPasswordReset: (input): Promise<void> => accounts.requestPasswordReset(input),
    resetPassword: (input): Promise<void> => accounts.resetPassword(input),
    requestEmailVerification: (viewer: SignedInViewer, client: ClientInfo): Promise<void> => accounts.requestEmailVerification({ userId: viewer.userId, client }),
    verifyEmail: (input): Promise<void> => accounts.verifyEmail(input),
    isEmailVerified: (user: { id: string; email: string }): Promise<boolean> => accounts.isEmailVerified(user),
    findUserByEmail: (email: string): Promise<UserRecord | null> => users.findByEmail(checkEmail(email)),
    setUserRoles,
    disableUser,
    enableUser,
  };
}
