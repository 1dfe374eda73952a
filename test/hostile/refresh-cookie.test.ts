import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { cookieAttributes, startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, PASSWORD, postGraphQL, signInForCookies, type RawResponse } from './support.js';

const REFRESH_FOR_BODY = 'mutation { refresh(delivery: BODY) { accessToken refreshToken user { email } } }';
const REFRESH = 'mutation { refresh { user { email } } }';

/** The Set-Cookie lines that expire the refresh cookie, as "domain path" (domain "host" for host-only ones). */
function clearedRefreshCookies(response: RawResponse): string[] {
  return response.setCookies
    .filter((line) => line.startsWith(`${REFRESH_COOKIE}=;`))
    .map((line) => {
      const attributes = cookieAttributes(line);
      expect(attributes['max-age']).toBe('0');
      expect(attributes['secure']).toBe(true);
      return `${String(attributes['domain'] ?? 'host')} ${String(attributes['path'])}`;
    })
    .sort();
}

describe('the refresh cookie', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
    for (const name of ['ada', 'bob', 'carol', 'dave']) await gateway.createUser({ email: `${name}@example.com`, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const refreshAt = (query: string, cookie: string, headers: Record<string, string> = {}): Promise<RawResponse> =>
    postGraphQL(gateway.url, { query }, { cookie, ...headers }, AUTH_PATH);

  describe('taken from the cookie', () => {
    it('is answered only with cookies, even when the request asks for delivery: BODY', async () => {
      const { refresh } = await signInForCookies(gateway, 'ada@example.com');
      const response = await refreshAt(REFRESH_FOR_BODY, refresh);
      expect(response.json?.errors).toBeUndefined();
      expect(response.json?.data).toEqual({ refresh: { accessToken: null, refreshToken: null, user: { email: 'ada@example.com' } } });
      // Neither token appears anywhere in the body; both arrive as HttpOnly cookies.
      const cookies = response.setCookies.map((line) => line.split(';')[0]?.split('=')[1] ?? '');
      expect(cookies).toHaveLength(2);
      for (const token of cookies) {
        expect(token.length).toBeGreaterThan(20);
        expect(response.text).not.toContain(token);
      }
      for (const line of response.setCookies) expect(cookieAttributes(line)['httponly']).toBe(true);
    });

    it('still answers in the body when the client sent the token as an argument (clients without cookies)', async () => {
      const login = await postGraphQL(gateway.url, {
        query: 'mutation { login(email: "bob@example.com", password: "correct horse battery staple", delivery: BODY) { refreshToken } }',
      });
      const token = (login.json?.data as { login: { refreshToken: string } }).login.refreshToken;
      const response = await postGraphQL(gateway.url, { query: 'mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }', variables: { t: token } });
      const body = (response.json?.data as { refresh: { accessToken: string | null; refreshToken: string | null } }).refresh;
      expect(body.accessToken).toEqual(expect.any(String));
      expect(body.refreshToken).toEqual(expect.any(String));
      expect(response.setCookies).toEqual([]);
    });
  });

  describe('sent twice (a shadowing cookie)', () => {
    it('refuses the refresh with REFRESH_TOKEN_INVALID, spends neither token and clears ours and the shadows at the parent domain', async () => {
      const genuine = await signInForCookies(gateway, 'carol@example.com');
      const planted = await signInForCookies(gateway, 'dave@example.com');
      // The browser sends the more specific path first: ours (/graphql/auth), then the parent-domain one (/).
      const response = await refreshAt(REFRESH, `${genuine.refresh}; ${planted.refresh}`, { host: 'api.example.com' });
      expect(firstCode(response)).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
      expect(response.json?.data).toBeNull();
      const paths = ['/', '/graphql', '/graphql/', '/graphql/auth'];
      expect(clearedRefreshCookies(response)).toEqual([...paths.map((path) => `example.com ${path}`), ...paths.map((path) => `host ${path}`)].sort());
      // The access cookie is cleared too: whatever session this browser had, it signs in again.
      expect(response.setCookies.some((line) => line.startsWith('__Host-portcullis-access=;'))).toBe(true);

      // Neither token was used: each still refreshes on its own.
      for (const cookie of [genuine.refresh, planted.refresh]) expect((await refreshAt(REFRESH, cookie)).json?.errors).toBeUndefined();
    });

    it('refuses the name twice whatever the values and their order', async () => {
      const { refresh } = await signInForCookies(gateway, 'ada@example.com');
      for (const cookie of [`${refresh}; ${refresh}`, `other=1; ${refresh};${REFRESH_COOKIE}=x`, `${REFRESH_COOKIE}=; ${refresh}`]) {
        expect(firstCode(await refreshAt(REFRESH, cookie))).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
      }
    });

    it('clears only host-only cookies when the gateway is reached by address (an address has no parent domain)', async () => {
      const { refresh } = await signInForCookies(gateway, 'ada@example.com');
      const response = await refreshAt(REFRESH, `${refresh}; ${refresh}`);
      expect(clearedRefreshCookies(response)).toEqual(['host /', 'host /graphql', 'host /graphql/', 'host /graphql/auth']);
    });
  });
});
