import { ErrorCode, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { MailError, type Mailer, type MailMessage } from '../mail/mailer.js';
import { emailVerificationMessage, passwordResetMessage, type AccountMailInput, type RequestOrigin } from '../mail/messages.js';
import type { AccountTokenRecord, AccountTokensStore } from '../stores/account-tokens.store.js';
import type { AuditEvent, AuditStore } from '../stores/audit.store.js';
import type { EmailVerificationsStore } from '../stores/email-verifications.store.js';
import type { UserRecord, UsersStore } from '../stores/users.store.js';
import { generateAccountToken, isWellFormedAccountToken, type AccountTokenKeys, type AccountTokenPurpose } from '../tokens/account-token.js';
import { coarseAddress } from './client-address.js';
import { checkEmail, checkNewPassword } from './credentials.js';
import type { MailThrottle } from './mail-throttle.js';
import type { PasswordHasher } from './password.js';
import type { ClientInfo, SessionManager } from './session-manager.js';

/** Password reset and email verification: one-time tokens delivered by mail. */
export interface AccountService {
  /**
   * Answers as soon as the input is valid and the throttle allows it, whether or not the account exists; the
   * lookup, the token and the mail happen after the answer, so neither its content nor its timing differs.
   */
  requestPasswordReset(input: { email: string; client: ClientInfo }): Promise<void>;
  /** Sets the password, ends every session of the user, and spends the token. Does not sign in. */
  resetPassword(input: { token: string; newPassword: string; client: ClientInfo }): Promise<void>;
  /** Mails a new verification link to the signed-in user (none when the address is already verified). */
  requestEmailVerification(input: { userId: string; client: ClientInfo }): Promise<void>;
  verifyEmail(input: { token: string; client: ClientInfo }): Promise<void>;
  /** Mails a verification link after the answer (sign-up, login of an unverified account); never throws. */
  sendVerificationLater(user: UserRecord, client: ClientInfo): void;
  isEmailVerified(user: { id: string; email: string }): Promise<boolean>;
  /** An operator created the account (the CLI): they vouch for the address. */
  vouchFor(user: UserRecord): Promise<void>;
  /** Waits for the mail still being sent; for shutdown and tests. */
  drain(): Promise<void>;
}

export interface AccountServiceDeps {
  readonly users: UsersStore;
  readonly tokens: AccountTokensStore;
  readonly verifications: EmailVerificationsStore;
  readonly keys: AccountTokenKeys;
  readonly passwords: PasswordHasher;
  /** Only revokeAll is used: a reset ends every session. */
  readonly sessions: Pick<SessionManager, 'revokeAll'>;
  readonly audit: AuditStore;
  readonly mailer: Mailer;
  readonly throttle: MailThrottle;
  readonly logger: Logger;
  readonly now: () => number;
  /** Links point here: `${publicUrl}/account/…#token=…`. */
  readonly publicUrl: string;
  readonly passwordResetTtlSeconds: number;
  readonly emailVerificationTtlSeconds: number;
}

/** The link pages served by the gateway (src/http/account-pages.ts). The token rides in the fragment. */
export const ACCOUNT_PAGE_PATHS: Readonly<Record<AccountTokenPurpose, string>> = Object.freeze({
  'password-reset': '/account/reset-password',
  'email-verification': '/account/verify-email',
});

const INVALID: Readonly<Record<AccountTokenPurpose, ErrorCode>> = {
  'password-reset': ErrorCode.RESET_TOKEN_INVALID,
  'email-verification': ErrorCode.VERIFICATION_TOKEN_INVALID,
};

export function createAccountService(deps: AccountServiceDeps): AccountService {
  const { users, tokens, verifications, keys, passwords, sessions, audit, mailer, throttle, logger, now } = deps;
  const pending = new Set<Promise<void>>();
  const site = new URL(deps.publicUrl).host;

  function requireMail(): void {
    if (mailer.delivery === 'off') throw new GatewayError(ErrorCode.MAIL_DISABLED);
  }

  /** Runs after the current answer has been written; failures are logged, never thrown at anybody. */
  function later(what: string, task: () => Promise<void>): void {
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(task)
      .catch((error: unknown) => logger.error({ err: error }, `${what} failed after the answer`))
      .finally(() => pending.delete(run));
    pending.add(run);
  }

  function auditEvent(event: Omit<AuditEvent, 'sessionId' | 'userAgent' | 'clientAddress'> & { client: ClientInfo }): Promise<void> {
    const { client, ...rest } = event;
    return audit
      .record({ ...rest, sessionId: null, userAgent: client.userAgent, clientAddress: coarseAddress(client.address) })
      .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event'));
  }

  /** Stores a new token for the user (superseding every older one of its purpose) and mails its link. */
  async function issueAndMail(purpose: AccountTokenPurpose, user: UserRecord, client: ClientInfo, compose: (input: AccountMailInput) => MailMessage): Promise<void> {
    if (!(await throttle.allowMail(purpose, user.email))) {
      logger.warn({ userId: user.id, purpose }, 'account mail not sent: the hourly cap for this mailbox is spent');
      return;
    }
    const at = now();
    const ttlSeconds = purpose === 'password-reset' ? deps.passwordResetTtlSeconds : deps.emailVerificationTtlSeconds;
    const token = generateAccountToken();
    await tokens.insert({
      tokenHash: keys.hash(purpose, token),
      purpose,
      userId: user.id,
      email: user.email,
      passwordChangedAt: user.passwordChangedAt,
      createdAt: new Date(at),
      expiresAt: new Date(at + ttlSeconds * 1000),
    });
    const origin: RequestOrigin = { clientAddress: coarseAddress(client.address), at: new Date(at) };
    const link = `${deps.publicUrl}${ACCOUNT_PAGE_PATHS[purpose]}#token=${token}`;
    try {
      await mailer.send(compose({ to: user.email, link, origin, ttlSeconds, site }));
    } catch (error) {
      // The token stays stored but unusable without its link; asking again issues a newer one, which voids it.
      const reason = error instanceof MailError ? error.reason : 'unexpected error';
      logger.error({ userId: user.id, purpose, reason }, 'account mail could not be sent; asking again sends a new link');
      return;
    }
    logger.info({ userId: user.id, purpose, delivery: mailer.delivery }, 'account mail sent');
    await auditEvent({ type: purpose === 'password-reset' ? 'password-reset-requested' : 'email-verification-sent', userId: user.id, at: new Date(at), client, detail: null });
  }

  /**
   * The token's record, if the token is live: known, of this purpose, unexpired, not spent, the newest of its
   * kind for the user, and issued against the account as it is now (same address; for a reset, same password).
   * One answer for every way of failing, so a probe learns nothing about which check refused it.
   */
  async function liveToken(purpose: AccountTokenPurpose, token: string, at: number): Promise<{ record: AccountTokenRecord; user: UserRecord }> {
    const tokenHash = keys.hash(purpose, token);
    const [record, spent] = await Promise.all([tokens.findActive(tokenHash, new Date(at)), tokens.isSpent(tokenHash)]);
    if (!record || spent || record.purpose !== purpose) throw new GatewayError(INVALID[purpose]);
    const [newest, user] = await Promise.all([tokens.newest(record.userId, purpose), users.findById(record.userId)]);
    const current =
      newest?.tokenHash === tokenHash &&
      user !== null &&
      user.email === record.email &&
      (purpose !== 'password-reset' || user.passwordChangedAt.getTime() === record.passwordChangedAt.getTime());
    if (!current || !user) throw new GatewayError(INVALID[purpose]);
    return { record, user };
  }

  /** The unique insert of the spent marker decides: of any number of concurrent uses, one gets past this. */
  async function spend(purpose: AccountTokenPurpose, record: AccountTokenRecord, at: number): Promise<void> {
    if ((await tokens.spend(record.tokenHash, new Date(at), record.expiresAt)) !== 'spent') throw new GatewayError(INVALID[purpose]);
  }

  async function isEmailVerified(user: { id: string; email: string }): Promise<boolean> {
    return (await verifications.verifiedAt(user.id, user.email)) !== null;
  }

  function checkToken(token: string): void {
    if (!isWellFormedAccountToken(token)) {
      throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'token', detail: 'token must be the 43-character value from the link.' });
    }
  }

  async function requestPasswordReset(input: { email: string; client: ClientInfo }): Promise<void> {
    requireMail();
    const email = checkEmail(input.email);
    await throttle.beforeResetRequest(email, input.client.address);
    later('password-reset request', async () => {
      const user = await users.findByEmail(email);
      if (user) await issueAndMail('password-reset', user, input.client, passwordResetMessage);
    });
  }

  async function resetPassword(input: { token: string; newPassword: string; client: ClientInfo }): Promise<void> {
    requireMail();
    checkToken(input.token);
    checkNewPassword(input.newPassword);
    const at = now();
    const { record, user } = await liveToken('password-reset', input.token, at);
    // Hashed before the token is spent, so a failure here leaves the link usable; a spent or void token was
    // refused above without costing a hash.
    const passwordHash = await passwords.hash(input.newPassword);
    await spend('password-reset', record, at);
    await users.updatePassword(user.id, passwordHash, new Date(at));
    // Opening the link proved the mailbox, as a verification link would.
    await verifications.markVerified(user.id, user.email, new Date(at));
    const revoked = await sessions.revokeAll(user.id, 'password-reset');
    logger.info({ userId: user.id, revoked }, 'password reset through a mailed link; every session ended');
    await Promise.all([
      auditEvent({ type: 'password-reset', userId: user.id, at: new Date(at), client: input.client, detail: null }),
      auditEvent({ type: 'sessions-revoked', userId: user.id, at: new Date(at), client: input.client, detail: `password reset: ${revoked} session(s) ended` }),
    ]);
  }

  async function requestEmailVerification(input: { userId: string; client: ClientInfo }): Promise<void> {
    requireMail();
    const user = await users.findById(input.userId);
    if (!user) throw new GatewayError(ErrorCode.UNAUTHENTICATED);
    if (await isEmailVerified(user)) return;
    later('email-verification request', () => issueAndMail('email-verification', user, input.client, emailVerificationMessage));
  }

  async function verifyEmail(input: { token: string; client: ClientInfo }): Promise<void> {
    requireMail();
    checkToken(input.token);
    const at = now();
    const { record, user } = await liveToken('email-verification', input.token, at);
    await spend('email-verification', record, at);
    await verifications.markVerified(user.id, record.email, new Date(at));
    logger.info({ userId: user.id }, 'email address verified');
    await auditEvent({ type: 'email-verified', userId: user.id, at: new Date(at), client: input.client, detail: null });
  }

  return {
    requestPasswordReset,
    resetPassword,
    requestEmailVerification,
    verifyEmail,
    sendVerificationLater(user: UserRecord, client: ClientInfo): void {
      if (mailer.delivery === 'off') return;
      later('verification mail', async () => {
        if (!(await isEmailVerified(user))) await issueAndMail('email-verification', user, client, emailVerificationMessage);
      });
    },
    isEmailVerified,
    vouchFor: (user: UserRecord): Promise<void> => verifications.markVerified(user.id, user.email, new Date(now())),
    async drain(): Promise<void> {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
