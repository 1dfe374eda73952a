import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { generateRefreshToken } from '../../src/tokens/refresh-token.js';
import { testConfig } from '../support/config.js';
import { countingHasher } from '../support/counting-hasher.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL, signInForCookies, type RawResponse } from './support.js';

const SIGN_UP = 'mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) }';


/** Everything a client can observe of an answer, minus what differs between any two requests. */
function observable(response: RawResponse): unknown {
  const { date: _date, etag: _etag, 'content-length': _length, ...headers } = response.headers;
  return { status: response.status, body: response.json, setCookies: response.setCookies, headers };
}

describe('account enumeration', () => {
  let gateway: TestGateway;
  const passwords = countingHasher();

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ SIGNUP_ENABLED: 'true' }), app: { passwords } });
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it.each([
    ['the same spelling', 'ada@example.com'],
    ['another case and surrounding spaces', '  ADA@Example.COM '],
  ])('answers signUp for a taken email (%s) exactly like for a free one, after the same hashing work', async (_name, taken) => {
    const before = passwords.calls.hash;
    const free = await postGraphQL(gateway.url, { query: SIGN_UP, variables: { e: `new-${Date.now()}@example.com`, p: 'a long enough passphrase' } });
    const hashedForFree = passwords.calls.hash - before;
    const existing = await postGraphQL(gateway.url, { query: SIGN_UP, variables: { e: taken, p: 'a long enough passphrase' } });
    const hashedForTaken = passwords.calls.hash - before - hashedForFree;
    expect(observable(existing)).toEqual(observable(free));
    expect(free.json).toEqual({ data: { signUp: true } });
    expect(hashedForTaken).toBe(hashedForFree);
    expect(hashedForFree).toBe(1);
  });

  it('answers login for an unknown email and for a known one with a wrong password identically, at /graphql/auth with BODY delivery', async () => {
    const query = 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken refreshToken } }';
    const unknown = await postGraphQL(gateway.url, { query, variables: { e: 'nobody@example.com', p: 'a wrong password' } }, {}, AUTH_PATH);
    const known = await postGraphQL(gateway.url, { query, variables: { e: 'ada@example.com', p: 'a wrong password' } }, {}, AUTH_PATH);
    expect(firstCode(unknown)).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(observable(known)).toEqual(observable(unknown));
    expect(unknown.json?.errors?.[0]?.extensions).toEqual({ code: ErrorCode.INVALID_CREDENTIALS });
  });

  it('answers changePassword with a wrong current password with INVALID_CREDENTIALS, exactly as a failed login, and ends no session', async () => {
    const other = await signInForCookies(gateway, 'ada@example.com');
    const { access } = await signInForCookies(gateway, 'ada@example.com');
    const response = await postGraphQL(
      gateway.url,
      { query: 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }', variables: { c: 'a wrong password', n: 'a brand new passphrase' } },
      { cookie: access },
    );
    expect(response.json?.data).toBeNull();
    const failedLogin = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'ada@example.com', password: 'a wrong password' } });
    expect(response.json?.errors?.[0]?.extensions).toEqual(failedLogin.json?.errors?.[0]?.extensions);
    expect(response.json?.errors?.[0]?.message).toBe(failedLogin.json?.errors?.[0]?.message);
    expect(response.setCookies).toEqual([]);
    // The other session still works, and the old password still signs in.
    expect(firstCode(await postGraphQL(gateway.url, { query: '{ me { id } }' }, { cookie: other.access }))).toBeUndefined();
    expect((await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'ada@example.com', password: PASSWORD } })).setCookies).toHaveLength(2);
  });

  it("answers refresh with a never-issued token and with a logged-out session's token identically (REFRESH_TOKEN_INVALID)", async () => {
    const { access, refresh } = await signInForCookies(gateway, 'ada@example.com');
    await postGraphQL(gateway.url, { query: 'mutation { logout }' }, { cookie: `${access}; ${refresh}` }, AUTH_PATH);
    const query = 'mutation { refresh { accessTokenExpiresAt } }';
    const ended = await postGraphQL(gateway.url, { query }, { cookie: refresh }, AUTH_PATH);
    const never = await postGraphQL(gateway.url, { query }, { cookie: `${REFRESH_COOKIE}=${generateRefreshToken()}` }, AUTH_PATH);
    expect(firstCode(never)).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
    expect(observable(ended)).toEqual(observable(never));
  });
});
