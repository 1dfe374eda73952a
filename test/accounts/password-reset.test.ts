/**
 * Password reset through real mail: the gateway sends with nodemailer to an SMTP server (`smtp-server`) in this
 * process, and the tests read the link out of the message they received.
 */
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { generateAccountToken } from '../../src/tokens/account-token.js';
import { testConfig } from '../support/config.js';
import {
  ChangePasswordDocument,
  LoginDocument,
  MeDocument,
  RefreshDocument,
  RequestPasswordResetDocument,
  RequestEmailVerificationDocument,
  ResetPasswordDocument,
  VerifyEmailDocument,
  type ResetPasswordMutation,
} from '../generated/operations.js';
import { countingHasher } from '../support/counting-hasher.js';
import { startGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { isRevocationViewRead } from '../support/commands.js';
import { linkIn, startMailbox, type Mailbox, type ReceivedMail } from '../support/mailbox.js';
import { MAIL_FROM, NEW_PASSWORD, PASSWORD, startMailGateway } from './support.js';

const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } });

function codeOf(response: GraphQLResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.['code'];
}

describe('password reset by mail', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;
  /** A second instance on the same database, as behind a load balancer. */
  let second: TestGateway;
  const passwords = countingHasher();

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { app: { passwords } });
    second = await startGateway({ config: gateway.config });
  });
  afterAll(async () => {
    await second?.app.stop();
    await gateway?.stop();
    await mailbox?.stop();
  });

  /** Asks for a reset at /graphql/auth and returns the message that arrives, with its token. */
  async function requestReset(email: string): Promise<{ mail: ReceivedMail; link: string; token: string }> {
    const arriving = mailbox.next(email.trim().toLowerCase());
    const response = await gateway.request(RequestPasswordResetDocument, { email }, { path: AUTH_PATH });
    expect(response.body).toEqual({ data: { requestPasswordReset: true } });
    const mail = await arriving;
    return { mail, ...linkIn(mail) };
  }

  const reset = (token: string, newPassword: string): Promise<GraphQLResponse<ResetPasswordMutation>> =>
    gateway.request(ResetPasswordDocument, { token, newPassword }, { path: AUTH_PATH });

  async function loginForBody(email: string, password: string, on: TestGateway = gateway): Promise<{ accessToken: string; refreshToken: string }> {
    const response = await on.request(LoginDocument, { email, password, delivery: 'BODY' });
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error(`login failed: ${JSON.stringify(response.body)}`);
    return { accessToken: login.accessToken, refreshToken: login.refreshToken };
  }

  it('mails a link that sets a new password without signing in, ends every session, and refuses the old access token on another instance within a second', async () => {
    const ada = await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    const here = await loginForBody('ada@example.com', PASSWORD);
    const there = await loginForBody('ada@example.com', PASSWORD, second);
    expect((await second.request(MeDocument, {}, bearer(here.accessToken))).body.data?.me?.email).toBe('ada@example.com');

    const { mail, link, token } = await requestReset('ADA@example.com ');
    expect(mail.to).toContain('ada@example.com');
    expect(mail.from).toContain('no-reply@portcullis.test');
    expect(MAIL_FROM).toContain('no-reply@portcullis.test');
    expect(mail.subject).toBe('Reset your password');
    // What was asked, from where (coarse, as in the session list), and what to do if it was not them.
    expect(mail.text).toContain('reset the password of the account ada@example.com');
    expect(mail.text).toContain('from the network 127.0.0.0/24');
    expect(mail.text).toContain('within 15 minutes');
    expect(mail.text).toContain('If this was not you, ignore this message');
    expect(link.startsWith(`${gateway.config.mail.publicUrl}/account/reset-password#token=`)).toBe(true);
    expect(mail.html).toContain(`<a href="${link}">`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const answer = await reset(token, NEW_PASSWORD);
    const answeredAt = Date.now();
    expect(answer.body).toEqual({ data: { resetPassword: true } });
    // It does not sign in: no cookie, no token.
    expect(answer.setCookies).toEqual([]);

    // Every session ends: the other instance refuses the old access token within a second (its revocation view
    // polls), and neither refresh token works any more.
    let refusedAfterMs = Number.POSITIVE_INFINITY;
    while (Date.now() - answeredAt < 3000) {
      const me = await second.request(MeDocument, {}, bearer(here.accessToken));
      if (codeOf(me) === ErrorCode.UNAUTHENTICATED) {
        expect(me.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
        refusedAfterMs = Date.now() - answeredAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(refusedAfterMs).toBeLessThanOrEqual(1000);
    expect(codeOf(await gateway.request(MeDocument, {}, bearer(there.accessToken)))).toBe(ErrorCode.UNAUTHENTICATED);
    for (const refreshToken of [here.refreshToken, there.refreshToken]) {
      expect(codeOf(await gateway.request(RefreshDocument, { refreshToken }, { path: AUTH_PATH }))).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
    }

    expect(codeOf(await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD }))).toBe(ErrorCode.INVALID_CREDENTIALS);
    await loginForBody('ada@example.com', NEW_PASSWORD);

    // Audit events: the request, the reset, and the sessions it ended. None carries the token.
    await gateway.app.accounts.drain();
    const events = await gateway.app.database.connection.collection('audit_events').find({ userId: ada.id }).toArray();
    expect(events.map((event) => event['type'])).toEqual(expect.arrayContaining(['password-reset-requested', 'password-reset', 'sessions-revoked']));
    expect(JSON.stringify(events)).not.toContain(token);

    // Used once: the same link answers RESET_TOKEN_INVALID.
    expect(codeOf(await reset(token, 'yet another passphrase'))).toBe(ErrorCode.RESET_TOKEN_INVALID);
  });

  it('stores the token only as a keyed hash', async () => {
    await gateway.createUser({ email: 'hash@example.com', password: PASSWORD });
    const { token } = await requestReset('hash@example.com');
    const stored = await gateway.app.database.connection.collection('account_tokens').find({}).toArray();
    expect(stored.length).toBeGreaterThan(0);
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  it('answers RESET_TOKEN_INVALID, one code, for a never-issued token and for a verification token', async () => {
    expect(codeOf(await reset(generateAccountToken(), NEW_PASSWORD))).toBe(ErrorCode.RESET_TOKEN_INVALID);
    // A reset token is unknown to verifyEmail and the other way round: separate keys.
    await gateway.createUser({ email: 'cross@example.com', password: PASSWORD });
    const { token } = await requestReset('cross@example.com');
    expect(codeOf(await gateway.request(VerifyEmailDocument, { token }, { path: AUTH_PATH }))).toBe(ErrorCode.VERIFICATION_TOKEN_INVALID);
    expect((await reset(token, NEW_PASSWORD)).body).toEqual({ data: { resetPassword: true } });
  });

  it('lets exactly one of 20 concurrent uses of one link win', async () => {
    await gateway.createUser({ email: 'bob@example.com', password: PASSWORD });
    const { token } = await requestReset('bob@example.com');
    const candidates = Array.from({ length: 20 }, (_, index) => `${NEW_PASSWORD} number ${index}`);
    const answers = await Promise.all(candidates.map((candidate) => reset(token, candidate)));
    const winners = answers.flatMap((answer, index) => (answer.body.data?.resetPassword === true ? [index] : []));
    expect(winners).toHaveLength(1);
    const losers = answers.filter((_, index) => index !== winners[0]);
    expect(losers.map(codeOf)).toEqual(Array<string>(19).fill(ErrorCode.RESET_TOKEN_INVALID));
    // The winner's password is the one stored.
    const winner = candidates[winners[0] ?? -1] ?? '';
    await loginForBody('bob@example.com', winner);
    const loser = candidates.find((candidate) => candidate !== winner) ?? '';
    expect(codeOf(await gateway.request(LoginDocument, { email: 'bob@example.com', password: loser }))).toBe(ErrorCode.INVALID_CREDENTIALS);
  });

  it('voids a link once a newer one is mailed', async () => {
    await gateway.createUser({ email: 'carol@example.com', password: PASSWORD });
    const older = await requestReset('carol@example.com');
    const newer = await requestReset('carol@example.com');
    expect(newer.token).not.toBe(older.token);
    expect(codeOf(await reset(older.token, NEW_PASSWORD))).toBe(ErrorCode.RESET_TOKEN_INVALID);
    expect((await reset(newer.token, NEW_PASSWORD)).body).toEqual({ data: { resetPassword: true } });
  });

  it('voids a link once the password is changed another way', async () => {
    await gateway.createUser({ email: 'dave@example.com', password: PASSWORD });
    const { token } = await requestReset('dave@example.com');
    const session = await loginForBody('dave@example.com', PASSWORD);
    const changed = await gateway.request(ChangePasswordDocument, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, bearer(session.accessToken));
    expect(changed.body.errors).toBeUndefined();
    expect(codeOf(await reset(token, 'an attacker chosen passphrase'))).toBe(ErrorCode.RESET_TOKEN_INVALID);
    await loginForBody('dave@example.com', NEW_PASSWORD);
  });

  it('refuses a malformed email, a weak password and a token of the wrong length or alphabet with BAD_USER_INPUT, before any hashing or database work', async () => {
    const commands: string[] = [];
    const client = gateway.app.database.connection.getClient();
    const listener = (event: CommandStartedEvent): void => {
      const target = (event.command as Record<string, unknown>)[event.commandName];
      // The revocation poll and the expiry sweeper run on timers, whatever the requests.
      if (isRevocationViewRead(event as never)) return;
      if (event.commandName === 'delete') return;
      commands.push(`${event.commandName} ${String(target)}`);
    };
    const good = generateAccountToken();
    const cases: Array<[Promise<GraphQLResponse<unknown>>, string]> = [];
    const hashedBefore = passwords.calls.hash;
    client.on('commandStarted', listener);
    try {
      cases.push([gateway.request(RequestPasswordResetDocument, { email: 'not an email' }, { path: AUTH_PATH }), 'email']);
      cases.push([gateway.request(RequestPasswordResetDocument, { email: `${'a'.repeat(250)}@example.com` }, { path: AUTH_PATH }), 'email']);
      cases.push([reset(good, 'too short'), 'password']);
      cases.push([reset(good.slice(1), NEW_PASSWORD), 'token']);
      cases.push([reset(`${good}A`, NEW_PASSWORD), 'token']);
      cases.push([reset(`${good.slice(1)}!`, NEW_PASSWORD), 'token']);
      cases.push([reset(`${good.slice(1)}=`, NEW_PASSWORD), 'token']);
      cases.push([gateway.request(VerifyEmailDocument, { token: 'x'.repeat(42) }, { path: AUTH_PATH }), 'token']);
      for (const [pending, field] of cases) {
        const response = await pending;
        expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.BAD_USER_INPUT, field });
      }
    } finally {
      client.off('commandStarted', listener);
    }
    expect(commands).toEqual([]);
    expect(passwords.calls.hash).toBe(hashedBefore);
  });
});

describe('password-reset links expire', () => {
  const TTL_SECONDS = 900;
  let mailbox: Mailbox;
  let gateway: TestGateway;
  let clock = Date.now();

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { app: { now: () => clock } });
    await gateway.createUser({ email: 'erin@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
    await mailbox?.stop();
  });

  async function freshToken(): Promise<string> {
    const arriving = mailbox.next('erin@example.com');
    await gateway.request(RequestPasswordResetDocument, { email: 'erin@example.com' }, { path: AUTH_PATH });
    return linkIn(await arriving).token;
  }

  it('refuses a link used a second after PASSWORD_RESET_TTL_SECONDS (default 900)', async () => {
    expect(gateway.config.mail.passwordResetTtlSeconds).toBe(TTL_SECONDS);
    const token = await freshToken();
    clock += (TTL_SECONDS + 1) * 1000;
    const response = await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH });
    expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.RESET_TOKEN_INVALID });
  });

  it('accepts a link used a second before it expires', async () => {
    const token = await freshToken();
    clock += (TTL_SECONDS - 1) * 1000;
    const response = await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH });
    expect(response.body).toEqual({ data: { resetPassword: true } });
  });
});

describe('password reset without mail (production without SMTP_URL)', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production' }) });
    await gateway.createUser({ email: 'frank@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers MAIL_DISABLED to every mail mutation', async () => {
    expect(gateway.config.mail.delivery).toBe('off');
    const token = generateAccountToken();
    const login = await gateway.request(LoginDocument, { email: 'frank@example.com', password: PASSWORD, delivery: 'BODY' });
    const accessToken = login.body.data?.login.accessToken ?? '';
    const responses = [
      await gateway.request(RequestEmailVerificationDocument, {}, bearer(accessToken)),
      await gateway.request(RequestPasswordResetDocument, { email: 'frank@example.com' }, { path: AUTH_PATH }),
      await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH }),
      await gateway.request(VerifyEmailDocument, { token }, { path: AUTH_PATH }),
    ];
    for (const response of responses) expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.MAIL_DISABLED });
  });
});
