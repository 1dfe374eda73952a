import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { LoginDocument, MeDocument, UsersDocument } from '../generated/operations.js';
import { cookieAttributes, cookiePair, startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';

describe('login over HTTP', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    await gateway.createUser({ email: 'root@example.com', password: PASSWORD, roles: ['ADMIN'] });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('sets an HttpOnly __Host- access cookie and a path-scoped refresh cookie', async () => {
    const response = await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.login.user.email).toBe('ada@example.com');
    expect(response.body.data?.login.accessToken).toBeNull();
    expect(response.body.data?.login.refreshToken).toBeNull();

    const access = response.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`));
    const refresh = response.setCookies.find((line) => line.startsWith(`${REFRESH_COOKIE}=`));
    expect(access).toBeDefined();
    expect(refresh).toBeDefined();
    expect(cookieAttributes(access!)).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/', 'max-age': '900' });
    expect(cookieAttributes(access!)).not.toHaveProperty('domain');
    expect(cookieAttributes(refresh!)).toMatchObject({ httponly: true, secure: true, samesite: 'Strict', path: AUTH_PATH });
  });

  it('answers me with the access cookie and refuses the same cookie with one character changed', async () => {
    const login = await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD });
    const cookie = cookiePair(login.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));

    const me = await gateway.request(MeDocument, {}, { cookie });
    expect(me.body.data?.me.email).toBe('ada@example.com');

    const index = cookie.length - 10;
    const tampered = cookie.slice(0, index) + (cookie[index] === 'A' ? 'B' : 'A') + cookie.slice(index + 1);
    const refused = await gateway.request(MeDocument, {}, { cookie: tampered });
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
  });
});
