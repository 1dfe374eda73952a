import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ACCESS_COOKIE } from '../../src/http/cookies.js';
import { LoginDocument, MeDocument, SignUpDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { countingHasher } from '../support/counting-hasher.js';
import { cookiePair, startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';


describe('login input and credentials', () => {
  let gateway: TestGateway;
  const passwords = countingHasher();

  beforeAll(async () => {
    gateway = await startGateway({ app: { passwords } });
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const resetCalls = (): void => passwords.reset();

  it('answers an unknown email and a wrong password with the same code and message, each after one argon2 verify', async () => {
    resetCalls();
    const unknown = await gateway.request(LoginDocument, { email: 'nobody@example.com', password: PASSWORD });
    expect(passwords.calls).toEqual({ hash: 0, verify: 0, verifyNothing: 1 });

    resetCalls();
    const wrong = await gateway.request(LoginDocument, { email: 'ada@example.com', password: `${PASSWORD}!` });
    expect(passwords.calls).toEqual({ hash: 0, verify: 1, verifyNothing: 0 });

    expect(unknown.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(wrong.body.errors?.[0]?.extensions).toEqual(unknown.body.errors?.[0]?.extensions);
    expect(wrong.body.errors?.[0]?.message).toBe(unknown.body.errors?.[0]?.message);
    expect(unknown.setCookies).toEqual([]);
    expect(wrong.setCookies).toEqual([]);
  });

  it('signs in whatever the case and surrounding spaces of the email', async () => {
    const response = await gateway.request(LoginDocument, { email: '  ADA@Example.COM ', password: PASSWORD });
    expect(response.body.data?.login.user.email).toBe('ada@example.com');
  });

  it.each([
    ['an absurdly long email', { email: `${'a'.repeat(10_000)}@example.com`, password: PASSWORD }, 'email'],
    ['an empty email', { email: '', password: PASSWORD }, 'email'],
    ['an email without @', { email: 'ada.example.com', password: PASSWORD }, 'email'],
    ['an absurdly long password', { email: 'ada@example.com', password: 'x'.repeat(5_000) }, 'password'],
    ['an empty password', { email: 'ada@example.com', password: '' }, 'password'],
  ])('rejects %s with BAD_USER_INPUT before any hashing', async (_name, variables, field) => {
    resetCalls();
    const response = await gateway.request(LoginDocument, variables);
    expect(response.body.errors?.[0]?.extensions).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, field });
    expect(passwords.calls).toEqual({ hash: 0, verify: 0, verifyNothing: 0 });
  });

  it('rejects a login with a missing password variable with BAD_USER_INPUT', async () => {
    resetCalls();
    const response = await gateway.request(LoginDocument, { email: 'ada@example.com' } as never);
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.BAD_USER_INPUT);
    expect(passwords.calls.verify + passwords.calls.verifyNothing).toBe(0);
  });

  it('refuses signUp while it is not configured on', async () => {
    const response = await gateway.request(SignUpDocument, { email: 'new@example.com', password: PASSWORD });
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.SIGNUP_DISABLED);
    const login = await gateway.request(LoginDocument, { email: 'new@example.com', password: PASSWORD });
    expect(login.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.INVALID_CREDENTIALS);
  });

  it('serves login at /graphql/auth too, and nothing but the auth mutations there', async () => {
    const login = await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD }, { path: '/graphql/auth' });
    expect(login.body.data?.login.user.email).toBe('ada@example.com');
    const cookie = cookiePair(login.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));

    const me = await gateway.request(MeDocument, {}, { path: '/graphql/auth', cookie });
    expect(me.status).toBe(400);
    expect(me.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.BAD_REQUEST);
    expect(me.body.data).toBeUndefined();
  });
});

describe('signUp when configured on', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ SIGNUP_ENABLED: 'true' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('creates an account that can then sign in with role USER', async () => {
    const response = await gateway.request(SignUpDocument, { email: 'Grace@Example.com', password: PASSWORD });
    expect(response.body.data?.signUp).toBe(true);
    const login = await gateway.request(LoginDocument, { email: 'grace@example.com', password: PASSWORD });
    expect(login.body.data?.login.user.roles).toEqual(['USER']);
  });

  it('answers a taken email exactly like a new one and leaves the existing account untouched', async () => {
    await gateway.request(SignUpDocument, { email: 'linus@example.com', password: PASSWORD });
    const again = await gateway.request(SignUpDocument, { email: 'linus@example.com', password: 'another password entirely' });
    expect(again.body).toEqual({ data: { signUp: true } });
    const original = await gateway.request(LoginDocument, { email: 'linus@example.com', password: PASSWORD });
    expect(original.body.data?.login.user.email).toBe('linus@example.com');
    const hijack = await gateway.request(LoginDocument, { email: 'linus@example.com', password: 'another password entirely' });
    expect(hijack.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.INVALID_CREDENTIALS);
  });

  it('rejects a password shorter than the policy with BAD_USER_INPUT', async () => {
    const response = await gateway.request(SignUpDocument, { email: 'short@example.com', password: 'short' });
    expect(response.body.errors?.[0]?.extensions).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, field: 'password' });
  });
});
