import { ErrorCode, GatewayError, TokenRejection } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditEvent, AuditStore } from '../stores/audit.store.js';
import { EmailTakenError, NO_PASSWORD_HASH, type UserRecord, type UsersStore } from '../stores/users.store.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { AccountService } from './account-service.js';
import { checkEmail, checkNewPassword, checkPasswordForSignIn } from './credentials.js';
import type { LoginThrottle } from './login-throttle.js';
import type { PasswordHasher } from './password.js';
import type { RevocationView } from './revocation-view.js';
import { parseRole, Role } from './roles.js';
import type { ClientInfo, IssuedSession, SessionManager } from './session-manager.js';
import { SECOND_FACTOR_METHODS, type SecondFactor, type SecondFactorStatus, type TotpEnrollment } from './second-factor/second-factor.js';
import { coarseAddress } from './client-address.js';
import type { Passkeys, PasskeyView } from './passkeys/passkeys.js';
import type { SessionView } from './views.js';

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
  /** How the session signed in (RFC 8176 `amr`); contains `mfa` when a second factor or a passkey was used. */
  readonly amr: readonly string[];
  /** When the person last proved who they are (`auth_time`, seconds since the epoch). */
  readonly authTime: number;
  /**
   * A role of MFA_REQUIRED_ROLES without a second factor in this session: the session may only enroll one
   * (every other guarded root field answers MFA_ENROLLMENT_REQUIRED).
   */
  readonly enrollmentOnly: boolean;
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
  listSessions(viewer: SignedInViewer): Promise<SessionView[]>;
  /** The viewer's own session (one read by id), or null once it has ended: live connections read its absolute end. */
  currentSession(viewer: SignedInViewer): Promise<SessionView | null>;
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
  /**
   * Completes a sign-in that answered MFA_REQUIRED (or a step-up from `reauthenticate`) with a TOTP or recovery
   * code. MFA_CODE_INVALID for a wrong or replayed code (it counts toward the account's throttling);
   * MFA_CHALLENGE_INVALID for an unknown, spent, expired or exhausted challenge.
   */
  verifySecondFactor(input: { challenge: string; code: string; client: ClientInfo }): Promise<IssuedSession>;
  /**
   * Proves the password again on the current session and refreshes its `auth_time`. With a second factor this
   * answers MFA_REQUIRED: `verifySecondFactor` then completes the step-up on the same session.
   */
  reauthenticate(viewer: SignedInViewer, input: { password: string; client: ClientInfo }): Promise<IssuedSession>;
  /** REAUTHENTICATION_REQUIRED when the session's last proof is older than REAUTH_MAX_AGE_SECONDS. */
  requireRecentSignIn(viewer: SignedInViewer): void;
  secondFactorStatus(viewer: SignedInViewer): Promise<SecondFactorStatus>;
  beginTotpEnrollment(viewer: SignedInViewer, client: ClientInfo): Promise<TotpEnrollment>;
  /** Enables TOTP; the session counts as multi-factor from its next refresh. Returns the recovery codes, shown once. */
  confirmTotpEnrollment(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<string[]>;
  disableTotp(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<void>;
  regenerateRecoveryCodes(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<string[]>;
  /** WebAuthn creation options for a new passkey of the viewer; the challenge is bound to this session. */
  passkeyRegistrationOptions(viewer: SignedInViewer): Promise<unknown>;
  registerPasskey(viewer: SignedInViewer, input: { response: unknown; name: string | undefined; client: ClientInfo }): Promise<PasskeyView>;
  /** WebAuthn request options for a sign-in with no email typed, and the cookie value the challenge is bound to. */
  passkeyLoginOptions(client: ClientInfo): Promise<{ options: unknown; binding: string; maxAgeSeconds: number }>;
  /** The same session as `signIn`, with amr hwk/swk + user + mfa. PASSKEY_INVALID for any failed verification. */
  loginWithPasskey(input: { response: unknown; binding: string | undefined; client: ClientInfo }): Promise<IssuedSession>;
  listPasskeys(viewer: SignedInViewer): Promise<PasskeyView[]>;
  renamePasskey(viewer: SignedInViewer, id: string, name: string): Promise<PasskeyView>;
  removePasskey(viewer: SignedInViewer, id: string, client: ClientInfo): Promise<void>;
  /**
   * For an operator (recovery when the phone and every recovery code are lost, identity checked by other means):
   * removes the account's TOTP and recovery codes, so it signs in with its password alone. Passkeys stay.
   */
  removeSecondFactor(actor: AdminActor, userId: string): Promise<UserRecord>;
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
  /** TOTP and recovery codes (auth/second-factor/). */
  readonly secondFactor: SecondFactor;
  /** MFA_REQUIRED_ROLES. */
  readonly mfaRequiredRoles: readonly string[];
  readonly reauthMaxAgeSeconds: number;
  /** WebAuthn registration and sign-in (auth/passkeys/). */
  readonly passkeys: Passkeys;
}

const GUEST: Viewer = Object.freeze({ kind: 'guest' });
const UNAVAILABLE: Viewer = Object.freeze({ kind: 'unavailable' });
const REVOKED: Viewer = Object.freeze({ kind: 'rejected', reason: TokenRejection.TOKEN_INVALID });

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const { users, sessions, view, passwords, throttle, accessTokens, accounts, audit, logger, now, secondFactor } = deps;

  /** Audit writes of the second factor and re-authentication; a failed write is logged, never fatal. */
  async function recordEvent(type: AuditEvent['type'], userId: string, sessionId: string | null, client: ClientInfo | null, detail: string | null): Promise<void> {
    await audit
      .record({
        type,
        userId,
        sessionId,
        at: new Date(now()),
        clientAddress: client ? coarseAddress(client.address) : null,
        userAgent: client?.userAgent ?? null,
        detail,
      })
      .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event'));
  }

  /** A right password of an account with a second factor: no session, a challenge instead. */
  async function requireSecondFactor(userId: string, sessionId: string | null): Promise<never> {
    const challenge = await secondFactor.createChallenge({ userId, sessionId, amr: ['pwd'] });
    throw new GatewayError(ErrorCode.MFA_REQUIRED, { challenge, methods: SECOND_FACTOR_METHODS });
  }

  async function signIn(input: { email: string; password: string; client: ClientInfo }): Promise<IssuedSession> {
    const email = checkEmail(input.email);
    checkPasswordForSignIn(input.password);
    // Counted before the password is checked, for known and unknown emails alike; an attempt the throttle refuses
    // reads no account.
    const ticket = await throttle.beforeAttempt(email, input.client.address);
    const found = await users.findWithPasswordHash(email);
    // Unknown email and wrong password take one argon2 verify each and end in one error: neither the answer
    // nor its timing tells an attacker which accounts exist.
    // An account created through a sign-in provider has no password: it takes the dummy verify too.
    const valid =
      found && found.passwordHash !== NO_PASSWORD_HASH ? await passwords.verify(found.passwordHash, input.password) : await passwords.verifyNothing(input.password);
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
    // Only a caller who knows the password learns that the account has a second factor.
    if (await secondFactor.isEnrolled(found.user.id)) {
      await throttle.afterSuccess(ticket);
      if (passwords.needsRehash(found.passwordHash)) await rehash(found.user.id, found.passwordHash, input.password);
      return requireSecondFactor(found.user.id, null);
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
    const roles = view.currentRoles(claims);
    return {
      kind: 'user',
      userId: claims.userId,
      sessionId: claims.sessionId,
      tokenId: claims.tokenId,
      roles,
      expiresAt: claims.expiresAt,
      amr: claims.amr,
      authTime: claims.authTime,
      enrollmentOnly: deps.mfaRequiredRoles.length > 0 && !claims.amr.includes('mfa') && roles.some((role) => deps.mfaRequiredRoles.includes(role)),
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

  function requireRecentSignIn(viewer: SignedInViewer): void {
    if (now() / 1000 - viewer.authTime > deps.reauthMaxAgeSeconds) throw new GatewayError(ErrorCode.REAUTHENTICATION_REQUIRED);
  }

  async function verifySecondFactor(input: { challenge: string; code: string; client: ClientInfo }): Promise<IssuedSession> {
    const record = await secondFactor.readChallenge(input.challenge);
    const user = await users.findById(record.userId);
    if (!user || user.disabled) throw new GatewayError(ErrorCode.MFA_CHALLENGE_INVALID);
    // Wrong codes count like wrong passwords, for this account from this address.
    const ticket = await throttle.beforeAttempt(user.email, input.client.address);
    let kind: Awaited<ReturnType<SecondFactor['answerChallenge']>>;
    try {
      kind = await secondFactor.answerChallenge(record, input.code);
    } catch (error) {
      if (error instanceof GatewayError && error.code === ErrorCode.MFA_CODE_INVALID) {
        await throttle.afterFailure(ticket);
        await recordEvent('second-factor-failed', user.id, record.sessionId, input.client, 'a wrong or reused code answered a second-factor challenge');
      }
      throw error;
    }
    await throttle.afterSuccess(ticket);
    const proof = { amr: [...new Set([...record.amr, 'otp', 'mfa'])] };
    const method = kind === 'totp' ? 'password and TOTP' : 'password and a recovery code';
    if (record.sessionId !== null) {
      const session = await sessions.stepUp(user, record.sessionId, proof);
      await recordEvent('reauthenticated', user.id, record.sessionId, input.client, method);
      return session;
    }
    const session = await sessions.start(user, input.client, proof);
    await recordEvent('signed-in', user.id, session.sessionId, input.client, method);
    if (kind === 'recovery-code') await recordEvent('recovery-code-used', user.id, session.sessionId, input.client, null);
    return session;
  }

  async function reauthenticate(viewer: SignedInViewer, input: { password: string; client: ClientInfo }): Promise<IssuedSession> {
    checkPasswordForSignIn(input.password);
    const user = await users.findById(viewer.userId);
    const ticket = user ? await throttle.beforeAttempt(user.email, input.client.address) : null;
    const found = user ? await users.findWithPasswordHash(user.email) : null;
    const valid = found ? await passwords.verify(found.passwordHash, input.password) : false;
    if (!found || !valid || found.user.disabled) {
      if (ticket) await throttle.afterFailure(ticket);
      throw new GatewayError(ErrorCode.INVALID_CREDENTIALS);
    }
    if (ticket) await throttle.afterSuccess(ticket);
    if (await secondFactor.isEnrolled(found.user.id)) return requireSecondFactor(found.user.id, viewer.sessionId);
    const session = await sessions.stepUp(found.user, viewer.sessionId, { amr: ['pwd'] });
    await recordEvent('reauthenticated', found.user.id, viewer.sessionId, input.client, 'password');
    return session;
  }

  async function confirmTotpEnrollment(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<string[]> {
    requireRecentSignIn(viewer);
    const codes = await secondFactor.confirmTotpEnrollment(viewer.userId, code);
    const user = await users.findById(viewer.userId);
    // The code just proved the new factor on this session: from its next refresh it counts as multi-factor, and
    // a session that could only enroll (MFA_REQUIRED_ROLES) becomes a full one.
    if (user) await sessions.stepUp(user, viewer.sessionId, { amr: [...new Set([...viewer.amr, 'otp', 'mfa'])] });
    await recordEvent('totp-enabled', viewer.userId, viewer.sessionId, client, null);
    return codes;
  }

  async function changePassword(viewer: SignedInViewer, input: { currentPassword: string; newPassword: string; client: ClientInfo }): Promise<number> {
    requireRecentSignIn(viewer);
    checkPasswordForSignIn(input.currentPassword);
    checkNewPassword(input.newPassword);
    const user = await users.findById(viewer.userId);
    // A stolen session must not become an unthrottled oracle for the current password.
    const ticket = user ? await throttle.beforeAttempt(user.email, input.client.address) : null;
    const found = user ? await users.findWithPasswordHash(user.email) : null;
    const valid = found && found.passwordHash !== NO_PASSWORD_HASH ? await passwords.verify(found.passwordHash, input.currentPassword) : false;
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
    listSessions: (viewer: SignedInViewer): Promise<SessionView[]> => sessions.listActive(viewer.userId),
    async currentSession(viewer: SignedInViewer): Promise<SessionView | null> {
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
    verifySecondFactor,
    reauthenticate,
    requireRecentSignIn,
    async passkeyRegistrationOptions(viewer: SignedInViewer): Promise<unknown> {
      requireRecentSignIn(viewer);
      const user = requireUser(await users.findById(viewer.userId));
      return deps.passkeys.registrationOptions({ user, sessionId: viewer.sessionId });
    },
    async registerPasskey(viewer: SignedInViewer, input: { response: unknown; name: string | undefined; client: ClientInfo }): Promise<PasskeyView> {
      requireRecentSignIn(viewer);
      const user = requireUser(await users.findById(viewer.userId));
      const passkey = await deps.passkeys.register({ user, sessionId: viewer.sessionId, response: input.response, name: input.name });
      await recordEvent('passkey-added', user.id, viewer.sessionId, input.client, passkey.id);
      return passkey;
    },
    async passkeyLoginOptions(client: ClientInfo): Promise<{ options: unknown; binding: string; maxAgeSeconds: number }> {
      await throttle.beforeAddressAttempt(client.address);
      return deps.passkeys.loginOptions();
    },
    async loginWithPasskey(input: { response: unknown; binding: string | undefined; client: ClientInfo }): Promise<IssuedSession> {
      const proof = await deps.passkeys.verifyLogin({ response: input.response, binding: input.binding });
      const session = await sessions.start(proof.user, input.client, { amr: proof.amr });
      await recordEvent('signed-in', proof.user.id, session.sessionId, input.client, `passkey ${proof.passkey.id}`);
      return session;
    },
    listPasskeys: (viewer: SignedInViewer): Promise<PasskeyView[]> => deps.passkeys.list(viewer.userId),
    renamePasskey: (viewer: SignedInViewer, id: string, name: string): Promise<PasskeyView> => deps.passkeys.rename(viewer.userId, id, name),
    async removeSecondFactor(actor: AdminActor, userId: string): Promise<UserRecord> {
      const user = requireUser(await users.findById(userId));
      await secondFactor.remove(user.id);
      await recordAdminEvent(actor, 'totp-disabled', user.id, 'second factor and recovery codes removed');
      return user;
    },
    async removePasskey(viewer: SignedInViewer, id: string, client: ClientInfo): Promise<void> {
      requireRecentSignIn(viewer);
      const removed = await deps.passkeys.remove(viewer.userId, id);
      await recordEvent('passkey-removed', viewer.userId, viewer.sessionId, client, removed.id);
    },
    secondFactorStatus: (viewer: SignedInViewer): Promise<SecondFactorStatus> => secondFactor.status(viewer.userId),
    async beginTotpEnrollment(viewer: SignedInViewer, _client: ClientInfo): Promise<TotpEnrollment> {
      requireRecentSignIn(viewer);
      const user = requireUser(await users.findById(viewer.userId));
      return secondFactor.beginTotpEnrollment({ id: user.id, email: user.email });
    },
    confirmTotpEnrollment,
    async disableTotp(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<void> {
      requireRecentSignIn(viewer);
      const kind = await secondFactor.disableTotp(viewer.userId, code);
      await recordEvent('totp-disabled', viewer.userId, viewer.sessionId, client, kind === 'totp' ? 'confirmed with a TOTP code' : 'confirmed with a recovery code');
    },
    async regenerateRecoveryCodes(viewer: SignedInViewer, code: string, client: ClientInfo): Promise<string[]> {
      requireRecentSignIn(viewer);
      const codes = await secondFactor.regenerateRecoveryCodes(viewer.userId, code);
      await recordEvent('recovery-codes-regenerated', viewer.userId, viewer.sessionId, client, null);
      return codes;
    },
  };
}
