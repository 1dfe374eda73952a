import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, LOGOUT, ME, PASSWORD, postGraphQL, raw, signInForCookies, type RawResponse } from './support.js';

const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example';
const ADA = 'ada@example.com';

describe('CSRF and CORS', () => {
  let gateway: TestGateway;
  let host: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ ALLOWED_ORIGINS: `${ALLOWED},https://admin.example.com` }) });
    await gateway.createUser({ email: ADA, password: PASSWORD });
    host = new URL(gateway.url).host;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  /** The session of these cookies is still alive: `me` answers with them. */
  async function expectSignedIn(access: string): Promise<void> {
    const response = await postGraphQL(gateway.url, { query: ME }, { cookie: access });
    expect(response.json?.errors).toBeUndefined();
    expect((response.json?.data as { me: { email: string } }).me.email).toBe(ADA);
  }

  function expectCsrfRejected(response: RawResponse): void {
    expect(response.status).toBe(403);
    expect(firstCode(response)).toBe(ErrorCode.CSRF_REJECTED);
    expect(response.json?.data).toBeUndefined();
    expect(response.setCookies).toEqual([]);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  }

  const preflight = (origin: string, path = '/graphql'): Promise<RawResponse> =>
    raw(gateway.url, {
      method: 'OPTIONS',
      path,
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  describe('cross-origin state changes', () => {
    it('refuses logout from a foreign Origin carrying a valid access cookie (403 CSRF_REJECTED), and the session survives', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      const response = await postGraphQL(gateway.url, { query: LOGOUT }, { cookie: access, origin: EVIL });
      expectCsrfRejected(response);
      await expectSignedIn(access);

      // Control: the same logout from a non-browser client (no Origin) does end the session.
      const control = await postGraphQL(gateway.url, { query: LOGOUT }, { cookie: access });
      expect(control.json?.data).toEqual({ logout: true });
      expect(firstCode(await postGraphQL(gateway.url, { query: ME }, { cookie: access }))).toBe(ErrorCode.UNAUTHENTICATED);
    });

    it('refuses a cross-site refresh at /graphql/auth carrying the refresh cookie, and leaves the refresh token unspent', async () => {
      const { refresh } = await signInForCookies(gateway, ADA);
      const query = 'mutation { refresh { accessTokenExpiresAt } }';
      expectCsrfRejected(await postGraphQL(gateway.url, { query }, { cookie: refresh, origin: EVIL }, AUTH_PATH));
      const control = await postGraphQL(gateway.url, { query }, { cookie: refresh }, AUTH_PATH);
      expect(control.json?.errors).toBeUndefined();
      expect(control.setCookies).toHaveLength(2);
    });

    it("refuses a mutation from Origin 'null' (sandboxed iframe, data: URL)", async () => {
      const { access } = await signInForCookies(gateway, ADA);
      expectCsrfRejected(await postGraphQL(gateway.url, { query: LOGOUT }, { cookie: access, origin: 'null' }));
      await expectSignedIn(access);
    });

    it('refuses a mutation marked Sec-Fetch-Site: cross-site that carries no Origin', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      expectCsrfRejected(await postGraphQL(gateway.url, { query: LOGOUT }, { cookie: access, 'sec-fetch-site': 'cross-site' }));
      await expectSignedIn(access);
    });

    it('refuses even a query POSTed from a foreign Origin (the check does not depend on the operation)', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      expectCsrfRejected(await postGraphQL(gateway.url, { query: ME }, { cookie: access, origin: EVIL }));
    });

    it('refuses a cross-site login (login CSRF) at both endpoints and sets no cookie', async () => {
      for (const path of ['/graphql', AUTH_PATH]) {
        expectCsrfRejected(await postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } }, { origin: EVIL }, path));
        expectCsrfRejected(
          await postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } }, { 'sec-fetch-site': 'cross-site' }, path),
        );
      }
    });

    it('lets a same-origin browser request through: Origin equal to the Host it was sent to', async () => {
      const response = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } }, { origin: `http://${host}`, 'sec-fetch-site': 'same-origin' });
      expect(response.status).toBe(200);
      expect(response.json?.errors).toBeUndefined();
      expect(response.setCookies).toHaveLength(2);
    });

    it('refuses an Origin naming the same host on another port than the Host header', async () => {
      const [hostname, port] = host.split(':');
      const response = await postGraphQL(gateway.url, { query: LOGOUT }, { origin: `http://${hostname}:${Number(port) + 1}` });
      expectCsrfRejected(response);
    });

    it('lets a listed origin through with Access-Control-Allow-Origin set to it and credentials allowed', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      const response = await postGraphQL(gateway.url, { query: ME }, { cookie: access, origin: ALLOWED, 'sec-fetch-site': 'cross-site' });
      expect(response.status).toBe(200);
      expect(response.json?.errors).toBeUndefined();
      expect(response.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(response.headers['access-control-allow-credentials']).toBe('true');
      expect(String(response.headers['vary'])).toMatch(/origin/i);
    });
  });

  describe('near-miss origins', () => {
    it.each([
      ['a suffix domain', 'https://app.example.com.evil.com'],
      ['a prefix domain', 'https://evilapp.example.com'],
      ['another subdomain', 'https://api.app.example.com'],
      ['http instead of https', 'http://app.example.com'],
      ['an explicit port', 'https://app.example.com:8443'],
      ['a trailing slash', 'https://app.example.com/'],
      ['upper case', 'https://APP.EXAMPLE.COM'],
      ['a userinfo trick', 'https://app.example.com@evil.example'],
      ['two origins in one header', `${ALLOWED} ${EVIL}`],
    ])('refuses %s (%s): POST is CSRF_REJECTED and the preflight 403 without CORS headers', async (_name, origin) => {
      expectCsrfRejected(await postGraphQL(gateway.url, { query: LOGIN, variables: { email: ADA, password: PASSWORD } }, { origin }));
      const response = await preflight(origin);
      expect(response.status).toBe(403);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    });
  });

  describe('preflight', () => {
    it('refuses the preflight of an unlisted origin with 403 CSRF_REJECTED and no Access-Control-Allow-Origin', async () => {
      for (const path of ['/graphql', AUTH_PATH]) {
        const response = await preflight(EVIL, path);
        expect(response.status).toBe(403);
        expect(firstCode(response)).toBe(ErrorCode.CSRF_REJECTED);
        expect(response.headers['access-control-allow-origin']).toBeUndefined();
        expect(response.headers['access-control-allow-methods']).toBeUndefined();
      }
    });

    it("refuses the preflight of Origin 'null'", async () => {
      const response = await preflight('null');
      expect(response.status).toBe(403);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('answers the preflight of each listed origin with 204, its own origin, credentials, POST and content-type', async () => {
      for (const origin of [ALLOWED, 'https://admin.example.com']) {
        const response = await preflight(origin);
        expect(response.status).toBe(204);
        expect(response.headers['access-control-allow-origin']).toBe(origin);
        expect(response.headers['access-control-allow-credentials']).toBe('true');
        expect(String(response.headers['access-control-allow-methods'])).toContain('POST');
        expect(String(response.headers['access-control-allow-headers']).toLowerCase()).toContain('content-type');
      }
    });

    it('never answers Access-Control-Allow-Origin: * (listed, unlisted, absent origin; preflight, POST, GET)', async () => {
      const responses = [
        await preflight(ALLOWED),
        await preflight(EVIL),
        await postGraphQL(gateway.url, { query: '{ __typename }' }, { origin: ALLOWED }),
        await postGraphQL(gateway.url, { query: '{ __typename }' }, { origin: EVIL }),
        await postGraphQL(gateway.url, { query: '{ __typename }' }),
        await raw(gateway.url, { method: 'GET', path: '/graphql?query=%7B__typename%7D', headers: { origin: EVIL, 'apollo-require-preflight': 'true' } }),
        await raw(gateway.url, { method: 'GET', path: '/healthz', headers: { origin: EVIL } }),
      ];
      for (const response of responses) {
        expect(response.headers['access-control-allow-origin']).not.toBe('*');
        expect([undefined, ALLOWED]).toContain(response.headers['access-control-allow-origin']);
      }
    });
  });

  describe('GET and non-JSON bodies', () => {
    it('refuses a mutation sent over GET, and the mutation does not run', async () => {
      const { access } = await signInForCookies(gateway, ADA);
      const response = await raw(gateway.url, {
        method: 'GET',
        path: `/graphql?query=${encodeURIComponent(LOGOUT)}`,
        headers: { cookie: access, 'apollo-require-preflight': 'true' },
      });
      expect(response.status).toBe(405);
      expect(firstCode(response)).toBe(ErrorCode.BAD_REQUEST);
      expect(response.json?.data).toBeUndefined();
      expect(response.setCookies).toEqual([]);
      await expectSignedIn(access);
    });

    it('refuses a GET query without a preflight-forcing header (Apollo csrfPrevention), and answers it with one', async () => {
      const path = `/graphql?query=${encodeURIComponent('{ __typename }')}`;
      const blocked = await raw(gateway.url, { method: 'GET', path });
      expect(blocked.status).toBe(400);
      expect(firstCode(blocked)).toBe(ErrorCode.BAD_REQUEST);
      expect(blocked.json?.data).toBeUndefined();

      const allowed = await raw(gateway.url, { method: 'GET', path, headers: { 'apollo-require-preflight': 'true' } });
      expect(allowed.status).toBe(200);
      expect(allowed.json?.data).toEqual({ __typename: 'Query' });
    });

    it('refuses a GET login with correct credentials even with the preflight header, and sets no cookie', async () => {
      const path = `/graphql?query=${encodeURIComponent(LOGIN)}&variables=${encodeURIComponent(JSON.stringify({ email: ADA, password: PASSWORD }))}`;
      const response = await raw(gateway.url, { method: 'GET', path, headers: { 'apollo-require-preflight': 'true' } });
      expect(response.status).toBe(405);
      expect(firstCode(response)).toBe(ErrorCode.BAD_REQUEST);
      expect(response.setCookies).toEqual([]);
    });

    const login = JSON.stringify({ query: LOGIN, variables: { email: ADA, password: PASSWORD } });
    const form = `query=${encodeURIComponent(LOGIN)}&variables=${encodeURIComponent(JSON.stringify({ email: ADA, password: PASSWORD }))}`;
    const boundary = '----hostile';
    const multipart = [
      `--${boundary}`,
      'Content-Disposition: form-data; name="operations"',
      '',
      login,
      `--${boundary}--`,
      '',
    ].join('\r\n');
    it.each([
      ['text/plain', 'text/plain', login],
      ['text/plain;charset=UTF-8', 'text/plain;charset=UTF-8', login],
      ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', form],
      ['multipart/form-data', `multipart/form-data; boundary=${boundary}`, multipart],
      ['no Content-Type at all', undefined, login],
    ])('never executes a %s body: login with correct credentials answers 4xx and sets no cookie', async (_name, contentType, body) => {
      const response = await raw(gateway.url, { headers: contentType === undefined ? {} : { 'content-type': contentType }, body });
      expect(response.status).toBe(400);
      expect(firstCode(response)).toBe(ErrorCode.BAD_REQUEST);
      expect(response.setCookies).toEqual([]);
      expect(response.json?.data).toBeUndefined();

      // Control: the same credentials as JSON do sign in, so the refusal above is about the body type.
      const control = await raw(gateway.url, { headers: { 'content-type': 'application/json' }, body: login });
      expect(control.setCookies).toHaveLength(2);
    });
  });
});
