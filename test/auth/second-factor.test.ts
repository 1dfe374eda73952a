import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { mongo } from 'mongoose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import {
  BeginTotpEnrollmentDocument,
  ChangePasswordDocument,
  ConfirmTotpEnrollmentDocument,
  DisableTotpDocument,
  LoginDocument,
  MeDocument,
  MySessionProofsDocument,
  ReauthenticateDocument,
  RefreshDocument,
  RegenerateRecoveryCodesDocument,
  SecondFactorDocument,
  SessionProofDocument,
  UsersDocument,
  VerifySecondFactorDocument,
} from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { rawCollection, startGateway, type GraphQLResponse, type RequestOptions, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';
const START_MS = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;

const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

function codeOf(response: GraphQLResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.['code'];
}

interface Tokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly auth: RequestOptions;
}

function tokensOf(payload: { accessToken?: string | null; refreshToken?: string | null } | undefined): Tokens {
  if (!payload?.accessToken || !payload.refreshToken) throw new Error('expected tokens in the body');
  return { accessToken: payload.accessToken, refreshToken: payload.refreshToken, auth: bearer(payload.accessToken) };
}

describe('TOTP as a second factor', () => {
  let gateway: TestGateway;
  let clock = START_MS;
  // The test's own TOTP, computed from the enrolled secret with otpauth: not the server's code path.
  const codeAt = (secret: string, atMs = clock): string =>
    new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: atMs });
  /** Moves to the next 30-second step, so the next code is a new one. */
  const nextStep = (): void => {
    clock += 30_000;
  };

  beforeAll(async () => {
    // TRUSTED_PROXIES: some requests come "from another address" (X-Forwarded-For), past the per-address throttle.
    gateway = await startGateway({ config: testConfig({ TRUSTED_PROXIES: '127.0.0.1' }), app: { now: () => clock } });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const raw = (name: string): mongo.Collection<mongo.Document> => rawCollection<mongo.Document>(gateway, name);

  async function newUser(roles: Array<'USER' | 'ADMIN'> = []): Promise<{ id: string; email: string }> {
    return gateway.createUser({ email: `mfa-${randomBytes(4).toString('hex')}@example.com`, password: PASSWORD, roles });
  }

  async function login(email: string, password = PASSWORD, options: RequestOptions = {}): Promise<GraphQLResponse<unknown> & { tokens?: Tokens }> {
    const response = await gateway.request(LoginDocument, { email, password, delivery: 'BODY' }, options);
    return Object.assign(response, response.body.data?.login ? { tokens: tokensOf(response.body.data.login) } : {});
  }

  async function challengeFor(email: string): Promise<string> {
    const response = await login(email);
    expect(codeOf(response)).toBe(ErrorCode.MFA_REQUIRED);
    const challenge = response.body.errors?.[0]?.extensions?.['challenge'];
    if (typeof challenge !== 'string') throw new Error('expected a challenge');
    return challenge;
  }

  /** A user with TOTP enabled: their secret, recovery codes, and the session they enrolled from. */
  async function enrolledUser(): Promise<{ id: string; email: string; secret: string; recoveryCodes: string[]; tokens: Tokens }> {
    const user = await newUser();
    const { tokens } = await login(user.email);
    if (!tokens) throw new Error('expected a session');
    const begun = await gateway.request(BeginTotpEnrollmentDocument, {}, tokens.auth);
    expect(begun.body.errors).toBeUndefined();
    const secret = begun.body.data?.beginTotpEnrollment.secret ?? '';
    const confirmed = await gateway.request(ConfirmTotpEnrollmentDocument, { code: codeAt(secret) }, tokens.auth);
    expect(confirmed.body.errors).toBeUndefined();
    nextStep();
    return { ...user, secret, recoveryCodes: confirmed.body.data?.confirmTotpEnrollment ?? [], tokens };
  }

  it('enrolls an authenticator app: the secret is stored sealed, a first code confirms it, 10 recovery codes come back once', async () => {
    const user = await newUser();
    const { tokens } = await login(user.email);
    if (!tokens) throw new Error('expected a session');
    const begun = await gateway.request(BeginTotpEnrollmentDocument, {}, tokens.auth);
    const enrollment = begun.body.data?.beginTotpEnrollment;
    if (!enrollment) throw new Error('expected an enrollment');
    expect(enrollment.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enrollment.otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    expect(new URL(enrollment.otpauthUri).searchParams.get('secret')).toBe(enrollment.secret);
    expect(enrollment.qrCodeSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // Stored encrypted: neither the secret nor its bytes in any encoding we know appear in the record.
    const stored = JSON.stringify(await raw('totp_authenticators').findOne({ _id: user.id as never }));
    expect(stored).not.toContain(enrollment.secret);
    expect(stored).not.toContain(Secret.fromBase32(enrollment.secret).hex);
    expect(stored).not.toContain(Buffer.from(Secret.fromBase32(enrollment.secret).bytes).toString('base64'));

    // Not enabled until confirmed: login still opens a session.
    expect((await login(user.email)).tokens).toBeDefined();
    expect(codeOf(await gateway.request(ConfirmTotpEnrollmentDocument, { code: '000000' === codeAt(enrollment.secret) ? '111111' : '000000' }, tokens.auth))).toBe(
      ErrorCode.MFA_CODE_INVALID,
    );
    const confirmed = await gateway.request(ConfirmTotpEnrollmentDocument, { code: codeAt(enrollment.secret) }, tokens.auth);
    const codes = confirmed.body.data?.confirmTotpEnrollment ?? [];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const status = await gateway.request(SecondFactorDocument, {}, tokens.auth);
    expect(status.body.data?.secondFactor).toEqual({ totpEnabled: true, recoveryCodesLeft: 10 });
    // Only hashes are stored.
    const storedCodes = JSON.stringify(await raw('recovery_codes').find({ userId: user.id }).toArray());
    for (const code of codes) {
      expect(storedCodes).not.toContain(code);
      expect(storedCodes).not.toContain(code.replace('-', ''));
    }
    const events = (await raw('audit_events').find({ userId: user.id }).toArray()).map((event) => event['type']);
    expect(events).toContain('totp-enabled');
    nextStep();
  });

  it('answers the right password with MFA_REQUIRED and a challenge, opening no session; the wrong password answers exactly as without a second factor', async () => {
    const enrolled = await enrolledUser();
    const plain = await newUser();
    const response = await gateway.request(LoginDocument, { email: enrolled.email, password: PASSWORD, delivery: 'COOKIE' }, {});
    expect(response.body.data ?? null).toBeNull();
    expect(response.body.errors?.[0]?.extensions).toMatchObject({ code: ErrorCode.MFA_REQUIRED, methods: ['TOTP', 'RECOVERY_CODE'] });
    expect(response.body.errors?.[0]?.extensions?.['challenge']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(response.setCookies).toEqual([]);

    const wrongWithMfa = await gateway.request(LoginDocument, { email: enrolled.email, password: 'not the password at all', delivery: 'BODY' }, {});
    const wrongWithout = await gateway.request(LoginDocument, { email: plain.email, password: 'not the password at all', delivery: 'BODY' }, {});
    expect(wrongWithMfa.body).toEqual(wrongWithout.body);
    expect(codeOf(wrongWithMfa)).toBe(ErrorCode.INVALID_CREDENTIALS);
  });

  it('completes the sign-in with the right code: amr pwd+otp+mfa and auth_time in the token, currentSession and the session list; a refresh keeps them', async () => {
    const enrolled = await enrolledUser();
    const challenge = await challengeFor(enrolled.email);
    const verified = await gateway.request(VerifySecondFactorDocument, { challenge, code: codeAt(enrolled.secret), delivery: 'BODY' });
    expect(verified.body.errors).toBeUndefined();
    const tokens = tokensOf(verified.body.data?.verifySecondFactor);
    const claims = decodeJwt(tokens.accessToken);
    expect(claims['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims['auth_time']).toBe(Math.floor(clock / 1000));
    const proof = await gateway.request(SessionProofDocument, {}, tokens.auth);
    expect(proof.body.data?.currentSession).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], authTime: new Date(Math.floor(clock / 1000) * 1000).toISOString() });
    const list = await gateway.request(MySessionProofsDocument, {}, tokens.auth);
    const mine = list.body.data?.mySessions.find((session) => session.current);
    expect(mine?.amr).toEqual(['pwd', 'otp', 'mfa']);
    const enrolledFrom = list.body.data?.mySessions.find((session) => !session.current);
    expect(enrolledFrom?.amr).toEqual(['pwd']);

    const signInTime = claims['auth_time'];
    clock += 60_000;
    const refreshed = await gateway.request(RefreshDocument, { refreshToken: tokens.refreshToken, delivery: 'BODY' }, { path: '/graphql/auth' });
    const again = decodeJwt(tokensOf(refreshed.body.data?.refresh).accessToken);
    expect(again['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect(again['auth_time']).toBe(signInTime);
    const events = await raw('audit_events').find({ userId: enrolled.id, type: 'signed-in' }).toArray();
    expect(events.map((event) => event['detail'])).toEqual(['password and TOTP']);
    nextStep();
  });

  it('refuses a TOTP code replayed within its 30-second step', async () => {
    const enrolled = await enrolledUser();
    const code = codeAt(enrolled.secret);
    const first = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code, delivery: 'BODY' });
    expect(first.body.errors).toBeUndefined();
    clock += 5_000; // same step
    const replay = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code, delivery: 'BODY' });
    expect(codeOf(replay)).toBe(ErrorCode.MFA_CODE_INVALID);
    const failed = await raw('audit_events').find({ userId: enrolled.id, type: 'second-factor-failed' }).toArray();
    expect(failed).toHaveLength(1);
    nextStep();
  });

  it('takes a recovery code once, in any spelling, and never twice', async () => {
    const enrolled = await enrolledUser();
    const recovery = enrolled.recoveryCodes[0] ?? '';
    const first = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code: ` ${recovery.toUpperCase()} `, delivery: 'BODY' });
    expect(first.body.errors).toBeUndefined();
    expect(decodeJwt(tokensOf(first.body.data?.verifySecondFactor).accessToken)['amr']).toEqual(['pwd', 'otp', 'mfa']);
    const second = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code: recovery, delivery: 'BODY' });
    expect(codeOf(second)).toBe(ErrorCode.MFA_CODE_INVALID);
    const status = await gateway.request(SecondFactorDocument, {}, enrolled.tokens.auth);
    expect(status.body.data?.secondFactor.recoveryCodesLeft).toBe(9);
    // Another account's recovery code is no code for this one.
    const other = await enrolledUser();
    const crossed = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code: other.recoveryCodes[0] ?? '', delivery: 'BODY' });
    expect(codeOf(crossed)).toBe(ErrorCode.MFA_CODE_INVALID);
  });

  it('ends a challenge after five wrong codes (the right one is refused after), and counts them toward the account throttle', async () => {
    const enrolled = await enrolledUser();
    const challenge = await challengeFor(enrolled.email);
    const right = codeAt(enrolled.secret);
    const wrong = right === '123456' ? '654321' : '123456';
    for (let attempt = 1; attempt <= 5; attempt++) {
      expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge, code: wrong, delivery: 'BODY' }))).toBe(ErrorCode.MFA_CODE_INVALID);
    }
    // From this address the account is now throttled like after five wrong passwords…
    expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge, code: right, delivery: 'BODY' }))).toBe(ErrorCode.RATE_LIMITED);
    // …and from anywhere else the challenge itself is over.
    const elsewhere: RequestOptions = { headers: { 'x-forwarded-for': '198.51.100.7' } };
    expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge, code: right, delivery: 'BODY' }, elsewhere))).toBe(ErrorCode.MFA_CHALLENGE_INVALID);
    // A fresh challenge from there works with the same (unused) code.
    const fresh = await login(enrolled.email, PASSWORD, elsewhere);
    const freshChallenge = fresh.body.errors?.[0]?.extensions?.['challenge'] as string;
    const completed = await gateway.request(VerifySecondFactorDocument, { challenge: freshChallenge, code: right, delivery: 'BODY' }, elsewhere);
    expect(completed.body.errors).toBeUndefined();
    // A spent challenge is spent.
    nextStep();
    expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge: freshChallenge, code: codeAt(enrolled.secret), delivery: 'BODY' }, elsewhere))).toBe(
      ErrorCode.MFA_CHALLENGE_INVALID,
    );
    nextStep();
  });

  it('refuses a challenge after 5 minutes, and one that was never issued', async () => {
    const enrolled = await enrolledUser();
    const challenge = await challengeFor(enrolled.email);
    clock += 301_000;
    expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge, code: codeAt(enrolled.secret), delivery: 'BODY' }))).toBe(ErrorCode.MFA_CHALLENGE_INVALID);
    const forged = randomBytes(32).toString('base64url');
    expect(codeOf(await gateway.request(VerifySecondFactorDocument, { challenge: forged, code: codeAt(enrolled.secret), delivery: 'BODY' }))).toBe(
      ErrorCode.MFA_CHALLENGE_INVALID,
    );
    nextStep();
  });

  it('needs a recent sign-in for sensitive operations: REAUTHENTICATION_REQUIRED after REAUTH_MAX_AGE_SECONDS, until reauthenticate refreshes auth_time on the same session', async () => {
    const user = await newUser();
    const { tokens } = await login(user.email);
    if (!tokens) throw new Error('expected a session');
    const sessionId = decodeJwt(tokens.accessToken)['sid'];
    clock += 601_000;
    expect(codeOf(await gateway.request(ChangePasswordDocument, { currentPassword: PASSWORD, newPassword: 'another long passphrase' }, tokens.auth))).toBe(
      ErrorCode.REAUTHENTICATION_REQUIRED,
    );
    expect(codeOf(await gateway.request(BeginTotpEnrollmentDocument, {}, tokens.auth))).toBe(ErrorCode.REAUTHENTICATION_REQUIRED);
    // Everything else still works.
    expect((await gateway.request(MeDocument, {}, tokens.auth)).body.data?.me.id).toBe(user.id);

    expect(codeOf(await gateway.request(ReauthenticateDocument, { password: 'not the password at all', delivery: 'BODY' }, tokens.auth))).toBe(
      ErrorCode.INVALID_CREDENTIALS,
    );
    const again = await gateway.request(ReauthenticateDocument, { password: PASSWORD, delivery: 'BODY' }, tokens.auth);
    const fresh = tokensOf(again.body.data?.reauthenticate);
    const claims = decodeJwt(fresh.accessToken);
    expect(claims['sid']).toBe(sessionId);
    expect(claims['auth_time']).toBe(Math.floor(clock / 1000));
    const begun = await gateway.request(BeginTotpEnrollmentDocument, {}, fresh.auth);
    expect(begun.body.errors).toBeUndefined();
    // A refresh of the session's older refresh token carries the new auth_time too.
    const refreshed = await gateway.request(RefreshDocument, { refreshToken: tokens.refreshToken, delivery: 'BODY' }, { path: '/graphql/auth' });
    expect(decodeJwt(tokensOf(refreshed.body.data?.refresh).accessToken)['auth_time']).toBe(Math.floor(clock / 1000));
  });

  it('with a second factor, reauthenticate answers MFA_REQUIRED and verifySecondFactor steps up the same session', async () => {
    const enrolled = await enrolledUser();
    const sessionId = decodeJwt(enrolled.tokens.accessToken)['sid'];
    clock += 601_000;
    expect(codeOf(await gateway.request(RegenerateRecoveryCodesDocument, { code: codeAt(enrolled.secret) }, enrolled.tokens.auth))).toBe(
      ErrorCode.REAUTHENTICATION_REQUIRED,
    );
    const asked = await gateway.request(ReauthenticateDocument, { password: PASSWORD, delivery: 'BODY' }, enrolled.tokens.auth);
    expect(codeOf(asked)).toBe(ErrorCode.MFA_REQUIRED);
    const challenge = asked.body.errors?.[0]?.extensions?.['challenge'] as string;
    const stepped = await gateway.request(VerifySecondFactorDocument, { challenge, code: codeAt(enrolled.secret), delivery: 'BODY' });
    const tokens = tokensOf(stepped.body.data?.verifySecondFactor);
    const claims = decodeJwt(tokens.accessToken);
    expect(claims['sid']).toBe(sessionId);
    expect(claims['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims['auth_time']).toBe(Math.floor(clock / 1000));
    nextStep();
    const regenerated = await gateway.request(RegenerateRecoveryCodesDocument, { code: codeAt(enrolled.secret) }, tokens.auth);
    expect(regenerated.body.data?.regenerateRecoveryCodes).toHaveLength(10);
    // The old batch no longer works, the new one does.
    nextStep();
    const old = await gateway.request(VerifySecondFactorDocument, { challenge: await challengeFor(enrolled.email), code: enrolled.recoveryCodes[1] ?? '', delivery: 'BODY' });
    expect(codeOf(old)).toBe(ErrorCode.MFA_CODE_INVALID);
    const renewed = await gateway.request(VerifySecondFactorDocument, {
      challenge: await challengeFor(enrolled.email),
      code: regenerated.body.data?.regenerateRecoveryCodes[0] ?? '',
      delivery: 'BODY',
    });
    expect(renewed.body.errors).toBeUndefined();
    // Disabling (with a code) makes login a one-step sign-in again.
    expect((await gateway.request(DisableTotpDocument, { code: codeAt(enrolled.secret) }, tokens.auth)).body.data?.disableTotp).toBe(true);
    expect((await login(enrolled.email)).tokens).toBeDefined();
    const events = (await raw('audit_events').find({ userId: enrolled.id }).toArray()).map((event) => event['type']);
    expect(events).toEqual(expect.arrayContaining(['totp-enabled', 'reauthenticated', 'recovery-codes-regenerated', 'totp-disabled', 'second-factor-failed']));
    nextStep();
  });
});

describe('MFA_REQUIRED_ROLES', () => {
  let gateway: TestGateway;
  let clock = START_MS;
  const codeAt = (secret: string): string => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: clock });

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ MFA_REQUIRED_ROLES: 'ADMIN' }), app: { now: () => clock } });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('gives an administrator without a second factor a session that can only enroll one, until they do', async () => {
    const admin = await gateway.createUser({ email: `admin-${randomBytes(4).toString('hex')}@example.com`, password: PASSWORD, roles: ['ADMIN'] });
    const signedIn = await gateway.request(LoginDocument, { email: admin.email, password: PASSWORD, delivery: 'BODY' });
    const tokens = tokensOf(signedIn.body.data?.login);
    expect(codeOf(await gateway.request(UsersDocument, {}, tokens.auth))).toBe(ErrorCode.MFA_ENROLLMENT_REQUIRED);
    expect((await gateway.request(MeDocument, {}, tokens.auth)).body.data?.me.id).toBe(admin.id);
    const begun = await gateway.request(BeginTotpEnrollmentDocument, {}, tokens.auth);
    const secret = begun.body.data?.beginTotpEnrollment.secret ?? '';
    expect((await gateway.request(ConfirmTotpEnrollmentDocument, { code: codeAt(secret) }, tokens.auth)).body.data?.confirmTotpEnrollment).toHaveLength(10);
    // The confirming code proved the factor on this session: its next token is multi-factor.
    const refreshed = await gateway.request(RefreshDocument, { refreshToken: tokens.refreshToken, delivery: 'BODY' }, { path: '/graphql/auth' });
    const full = tokensOf(refreshed.body.data?.refresh);
    const users = await gateway.request(UsersDocument, {}, full.auth);
    expect(users.body.errors).toBeUndefined();

    // An ordinary user is not concerned.
    const user = await gateway.createUser({ email: `user-${randomBytes(4).toString('hex')}@example.com`, password: PASSWORD });
    const plain = tokensOf((await gateway.request(LoginDocument, { email: user.email, password: PASSWORD, delivery: 'BODY' })).body.data?.login);
    expect((await gateway.request(MySessionProofsDocument, {}, plain.auth)).body.errors).toBeUndefined();
  });
});
