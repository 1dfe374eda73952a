import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { testConfig } from '../support/config.js';
import { cookieAttributes, startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL, raw, signInForCookies, type RawResponse } from './support.js';

const ADA = 'ada@example.com';
const ALLOWED = 'https://app.example.com';

describe('response headers', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ ALLOWED_ORIGINS: ALLOWED }) });
    await gateway.createUser({ email: ADA, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  function expectHardened(response: RawResponse): void {
    const csp = String(response.headers['content-security-policy'] ?? '');
    const directives = new Map(csp.split(';').map((part) => part.trim().split(/\s+/)).map(([name = '', ...values]) => [name.toLowerCase(), values]));
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['x-powered-by']).toBeUndefined();
  }

  const requests: Array<[string, number, (gateway: TestGateway) => Promise<RawResponse>]> = [
    ['a GraphQL answer', 200, (g) => postGraphQL(g.url, { query: '{ __typename }' })],
    ['a GraphQL validation error', 400, (g) => postGraphQL(g.url, { query: '{ nope }' })],
    ['a GraphQL parse error', 400, (g) => postGraphQL(g.url, { query: '{' })],
    ['GET /healthz', 200, (g) => raw(g.url, { method: 'GET', path: '/healthz' })],
    ['GET /readyz', 200, (g) => raw(g.url, { method: 'GET', path: '/readyz' })],
    ['an unknown path (404)', 404, (g) => raw(g.url, { method: 'GET', path: '/admin/../../etc/passwd' })],
    ['a body over the limit (413)', 413, (g) => postGraphQL(g.url, { query: '{ __typename }', variables: { pad: 'x'.repeat(70_000) } })],
    ['a body that is not JSON (400)', 400, (g) => raw(g.url, { headers: { 'content-type': 'application/json' }, body: '{"query":' })],
    ['a CSRF refusal (403)', 403, (g) => postGraphQL(g.url, { query: '{ __typename }' }, { origin: 'https://evil.example' })],
    ['a refused preflight (403)', 403, (g) => raw(g.url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })],
    ['an accepted preflight (204)', 204, (g) => raw(g.url, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } })],
    ['a mutation over GET (405)', 405, (g) => raw(g.url, { method: 'GET', path: '/graphql?query=mutation%7Blogout%7D', headers: { 'apollo-require-preflight': 'true' } })],
  ];

  it.each(requests)('sets CSP frame-ancestors none, nosniff, X-Frame-Options DENY and no X-Powered-By on %s', async (_name, status, send) => {
    const response = await send(gateway);
    expect(response.status).toBe(status);
    expectHardened(response);
  });

  it.each([
    ['a query answer', () => postGraphQL(gateway.url, { query: '{ __typename }' })],
    ['a validation error', () => postGraphQL(gateway.url, { query: '{ nope }' })],
    ['a login that sets cookies', () => postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } })],
    ['a failed login', () => postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: 'wrong password!' } })],
    ['a GET query', () => raw(gateway.url, { method: 'GET', path: '/graphql?query=%7B__typename%7D', headers: { 'apollo-require-preflight': 'true' } })],
    ['a 413 at /graphql/auth', () => postGraphQL(gateway.url, { query: '{ __typename }', variables: { pad: 'x'.repeat(70_000) } }, {}, AUTH_PATH)],
  ])('marks %s Cache-Control: no-store', async (_name, send) => {
    const response = await send();
    expect(response.headers['cache-control']).toBe('no-store');
  });

  describe('Set-Cookie attributes', () => {
    function expectSessionCookie(line: string | undefined, expected: { path: string; sameSite: string; cleared: boolean }): void {
      if (line === undefined) throw new Error('expected the cookie');
      const attributes = cookieAttributes(line);
      expect(attributes['httponly']).toBe(true);
      expect(attributes['secure']).toBe(true);
      expect(String(attributes['samesite']).toLowerCase()).toBe(expected.sameSite);
      expect(attributes['path']).toBe(expected.path);
      expect(attributes['domain']).toBeUndefined();
      if (expected.cleared) {
        expect(attributes['max-age']).toBe('0');
        expect(line.split(';')[0]).toMatch(/=$/);
      } else {
        expect(Number(attributes['max-age'])).toBeGreaterThan(0);
      }
    }

    function expectBoth(setCookies: readonly string[], cleared: boolean): void {
      expect(setCookies).toHaveLength(2);
      expectSessionCookie(setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)), { path: '/', sameSite: 'lax', cleared });
      expectSessionCookie(setCookies.find((line) => line.startsWith(`${REFRESH_COOKIE}=`)), { path: AUTH_PATH, sameSite: 'strict', cleared });
    }

    it.each(['/graphql', AUTH_PATH])('carries HttpOnly, Secure, SameSite and the right Path on both cookies of a login at %s', async (path) => {
      const response = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } }, {}, path);
      expect(response.json?.errors).toBeUndefined();
      expectBoth(response.setCookies, false);
    });

    it('carries the same attributes on both cookies of a cookie refresh', async () => {
      const { refresh } = await signInForCookies(gateway, ADA);
      const response = await postGraphQL(gateway.url, { query: 'mutation { refresh { accessTokenExpiresAt } }' }, { cookie: refresh }, AUTH_PATH);
      expect(response.json?.errors).toBeUndefined();
      expectBoth(response.setCookies, false);
    });

    it('clears both cookies on logout with the attributes they were set with', async () => {
      const { access, refresh } = await signInForCookies(gateway, ADA);
      const response = await postGraphQL(gateway.url, { query: 'mutation { logout }' }, { cookie: `${access}; ${refresh}` }, AUTH_PATH);
      expect(response.json?.data).toEqual({ logout: true });
      expectBoth(response.setCookies, true);
    });

    it('clears both cookies on logoutEverywhere with the attributes they were set with', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      const response = await postGraphQL(gateway.url, { query: 'mutation { logoutEverywhere }' }, { cookie: access });
      expect(response.json?.errors).toBeUndefined();
      expectBoth(response.setCookies, true);
    });

    it('clears both cookies when a refresh cookie is refused, with the attributes they were set with', async () => {
      const response = await postGraphQL(gateway.url, { query: 'mutation { refresh { accessTokenExpiresAt } }' }, { cookie: `${REFRESH_COOKIE}=forged` }, AUTH_PATH);
      expect(firstCode(response)).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
      expectBoth(response.setCookies, true);
    });
  });
});
