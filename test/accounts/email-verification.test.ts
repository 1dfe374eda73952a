/** Email verification through real mail, and REQUIRE_VERIFIED_EMAIL. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIL_LIMITS } from '../../src/auth/mail-throttle.js';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { generateAccountToken } from '../../src/tokens/account-token.js';
import {
  LoginDocument,
  MeVerifiedDocument,
  RequestEmailVerificationDocument,
  ResetPasswordDocument,
  SignUpDocument,
  VerifyEmailDocument,
} from '../generated/operations.js';
import type { GraphQLResponse, TestGateway } from '../support/gateway.js';
import { linkIn, startMailbox, type Mailbox } from '../support/mailbox.js';
import { NEW_PASSWORD, PASSWORD, startMailGateway } from './support.js';

const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } });
const codeOf = (response: GraphQLResponse<unknown>): unknown => response.body.errors?.[0]?.extensions?.['code'];

async function accessTokenFor(gateway: TestGateway, email: string, password = PASSWORD): Promise<string> {
  const response = await gateway.request(LoginDocument, { email, password, delivery: 'BODY' });
  const token = response.body.data?.login.accessToken;
  if (!token) throw new Error(`login failed: ${JSON.stringify(response.body)}`);
  return token;
}

describe('email verification by mail', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { env: { SIGNUP_ENABLED: 'true' } });
  });
  afterAll(async () => {
    await gateway?.stop();
    await mailbox?.stop();
  });

  const verify = (token: string): Promise<GraphQLResponse<unknown>> => gateway.request(VerifyEmailDocument, { token }, { path: AUTH_PATH });

  it('mails a verification link at sign-up; opening it verifies the address, once', async () => {
    const arriving = mailbox.next('grace@example.com');
    expect((await gateway.request(SignUpDocument, { email: 'grace@example.com', password: PASSWORD })).body).toEqual({ data: { signUp: true } });
    const mail = await arriving;
    expect(mail.subject).toBe('Confirm your email address');
    expect(mail.text).toContain('confirm that grace@example.com is the address of an account');
    expect(mail.text).toContain('from the network 127.0.0.0/24');
    expect(mail.text).toContain('within 1 day');
    expect(mail.text).toContain('If you did not create an account there, ignore this message');
    const { link, token } = linkIn(mail);
    expect(link.startsWith(`${gateway.config.mail.publicUrl}/account/verify-email#token=`)).toBe(true);

    const accessToken = await accessTokenFor(gateway, 'grace@example.com');
    expect((await gateway.request(MeVerifiedDocument, {}, bearer(accessToken))).body.data?.me.emailVerified).toBe(false);
    expect((await verify(token)).body).toEqual({ data: { verifyEmail: true } });
    expect((await gateway.request(MeVerifiedDocument, {}, bearer(accessToken))).body.data?.me.emailVerified).toBe(true);
    expect(codeOf(await verify(token))).toBe(ErrorCode.VERIFICATION_TOKEN_INVALID);
  });

  it('mails a new link on requestEmailVerification (signed in), which voids the older one', async () => {
    const first = mailbox.next('heidi@example.com');
    await gateway.request(SignUpDocument, { email: 'heidi@example.com', password: PASSWORD });
    const older = linkIn(await first).token;
    const accessToken = await accessTokenFor(gateway, 'heidi@example.com');
    const second = mailbox.next('heidi@example.com');
    expect((await gateway.request(RequestEmailVerificationDocument, {}, bearer(accessToken))).body).toEqual({ data: { requestEmailVerification: true } });
    const newer = linkIn(await second).token;
    expect(codeOf(await verify(older))).toBe(ErrorCode.VERIFICATION_TOKEN_INVALID);
    expect((await verify(newer)).body).toEqual({ data: { verifyEmail: true } });
  });

  it(`mails one mailbox at most ${MAIL_LIMITS.mailbox.points} verification links an hour, however often they are asked for`, async () => {
    const first = mailbox.next('mallory@example.com');
    await gateway.request(SignUpDocument, { email: 'mallory@example.com', password: PASSWORD });
    await first;
    const accessToken = await accessTokenFor(gateway, 'mallory@example.com');
    for (let ask = 0; ask < MAIL_LIMITS.mailbox.points + 2; ask++) {
      expect((await gateway.request(RequestEmailVerificationDocument, {}, bearer(accessToken))).body).toEqual({ data: { requestEmailVerification: true } });
    }
    await gateway.app.accounts.drain();
    expect(mailbox.messages.filter((message) => message.to.includes('mallory@example.com'))).toHaveLength(MAIL_LIMITS.mailbox.points);
  });

  it('refuses requestEmailVerification without a session', async () => {
    expect(codeOf(await gateway.request(RequestEmailVerificationDocument, {}))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('answers VERIFICATION_TOKEN_INVALID for a never-issued token, and a verification token is no reset token', async () => {
    expect(codeOf(await verify(generateAccountToken()))).toBe(ErrorCode.VERIFICATION_TOKEN_INVALID);
    const arriving = mailbox.next('ivan@example.com');
    await gateway.request(SignUpDocument, { email: 'ivan@example.com', password: PASSWORD });
    const { token } = linkIn(await arriving);
    const reset = await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH });
    expect(codeOf(reset)).toBe(ErrorCode.RESET_TOKEN_INVALID);
  });

  it('counts users created by an operator (the CLI path) as verified, and mails them nothing', async () => {
    await gateway.createUser({ email: 'judy@example.com', password: PASSWORD });
    const accessToken = await accessTokenFor(gateway, 'judy@example.com');
    expect((await gateway.request(MeVerifiedDocument, {}, bearer(accessToken))).body.data?.me.emailVerified).toBe(true);
    await gateway.request(RequestEmailVerificationDocument, {}, bearer(accessToken));
    await gateway.app.accounts.drain();
    expect(mailbox.messages.filter((message) => message.to.includes('judy@example.com'))).toEqual([]);
  });
});

describe('REQUIRE_VERIFIED_EMAIL=true', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { env: { SIGNUP_ENABLED: 'true', REQUIRE_VERIFIED_EMAIL: 'true' } });
  });
  afterAll(async () => {
    await gateway?.stop();
    await mailbox?.stop();
  });

  it('answers EMAIL_NOT_VERIFIED to the right password of an unverified account (and mails a new link), INVALID_CREDENTIALS to a wrong one, and signs in once verified', async () => {
    const atSignUp = mailbox.next('ken@example.com');
    await gateway.request(SignUpDocument, { email: 'ken@example.com', password: PASSWORD });
    await atSignUp;

    const wrong = await gateway.request(LoginDocument, { email: 'ken@example.com', password: 'not the password at all' });
    expect(wrong.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.INVALID_CREDENTIALS });
    const unknown = await gateway.request(LoginDocument, { email: 'nobody@example.com', password: PASSWORD });
    expect(unknown.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.INVALID_CREDENTIALS });

    const atLogin = mailbox.next('ken@example.com');
    const refused = await gateway.request(LoginDocument, { email: 'ken@example.com', password: PASSWORD });
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.EMAIL_NOT_VERIFIED });
    expect(refused.setCookies).toEqual([]);

    // The link mailed at login is the newest, so it is the one that works.
    const { token } = linkIn(await atLogin);
    expect((await gateway.request(VerifyEmailDocument, { token }, { path: AUTH_PATH })).body).toEqual({ data: { verifyEmail: true } });
    const allowed = await gateway.request(LoginDocument, { email: 'ken@example.com', password: PASSWORD });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.setCookies).toHaveLength(2);
  });

  it('lets operator-created (CLI) accounts sign in without a link', async () => {
    await gateway.createUser({ email: 'leo@example.com', password: PASSWORD });
    const response = await gateway.request(LoginDocument, { email: 'leo@example.com', password: PASSWORD });
    expect(response.body.errors).toBeUndefined();
  });
});
