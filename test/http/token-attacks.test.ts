import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { ACCESS_TOKEN_TYPE } from '../../src/tokens/access-token.js';
import { isWellFormedRefreshToken } from '../../src/tokens/refresh-token.js';
import { CurrentSessionDocument, LoginDocument, MeDocument, UsersDocument } from '../generated/operations.js';
import { cookiePair, startGateway, type GraphQLResponse, type RequestOptions, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';
const ADA = 'ada@example.com';
const ROOT = 'root@example.com';

/** The gateway's clock. Tests move it instead of sleeping; every test starts from START_MS. */
const START_MS = Math.floor(Date.now() / 1000) * 1000;
let clock = START_MS;

describe('access-token attacks over HTTP', () => {
  let gateway: TestGateway;
  let ada: { id: string; email: string };

  beforeAll(async () => {
    gateway = await startGateway({ app: { now: () => clock } });
    ada = await gateway.createUser({ email: ADA, password: PASSWORD });
    await gateway.createUser({ email: ROOT, password: PASSWORD, roles: ['ADMIN'] });
  });
  afterAll(async () => {
    await gateway?.stop();
  });
  beforeEach(() => {
    clock = START_MS;
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function loginForBody(email: string): Promise<{ accessToken: string; refreshToken: string; accessTokenExpiresAt: string }> {
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    expect(response.body.errors).toBeUndefined();
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    return { accessToken: login.accessToken, refreshToken: login.refreshToken, accessTokenExpiresAt: login.accessTokenExpiresAt };
  }

  async function accessCookieFor(email: string): Promise<string> {
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD });
    return cookiePair(response.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));
  }

  /**
   * A token with exactly the header and claims shape the gateway issues, for Ada, claiming ADMIN. Signed with
   * `key`: the gateway's own secret for the control, anything else for a forgery.
   */
  async function craftToken(key: Uint8Array, options: { kid: string; pad?: string; expiresAt?: number }): Promise<string> {
    const issuedAt = Math.floor(clock / 1000);
    return new SignJWT({ sid: 'forged-session', roles: ['ADMIN'], ...(options.pad !== undefined && { pad: options.pad }) })
      .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE, kid: options.kid })
      .setSubject(ada.id)
      .setJti('forged-token')
      .setIssuer(gateway.config.tokens.issuer)
      .setAudience(gateway.config.tokens.audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(options.expiresAt ?? issuedAt + gateway.config.tokens.accessTokenTtlSeconds)
      .sign(key);
  }

  /** The kid the gateway publishes in every token it issues: an attacker knows it. */
  async function liveKid(): Promise<string> {
    const { accessToken } = await loginForBody(ADA);
    const { kid } = decodeProtectedHeader(accessToken);
    if (typeof kid !== 'string') throw new Error('expected a kid');
    return kid;
  }

  function expectRefused<T>(response: GraphQLResponse<T>, reason: TokenRejection): void {
    expect(response.body.data).toBeNull();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason });
  }

  const me = (options: RequestOptions): Promise<GraphQLResponse<{ me: { id: string; email: string; roles: string[] } }>> =>
    gateway.request(MeDocument, {}, options);
  const bearer = (value: string): RequestOptions => ({ headers: { authorization: value } });

  describe('forged and malformed tokens', () => {
    it('answers me for a token crafted with the gateway secret (control for the forgery below)', async () => {
      const token = await craftToken(gateway.config.tokens.jwtSecret!.bytes(), { kid: await liveKid() });
      const response = await me({ cookie: `${ACCESS_COOKIE}=${token}` });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.me.email).toBe(ADA);
    });

    it('refuses a forged access cookie signed with another secret under the live kid (TOKEN_INVALID)', async () => {
      const forged = await craftToken(randomBytes(32), { kid: await liveKid() });
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${forged}` }), TokenRejection.TOKEN_INVALID);
    });

    it('refuses the same forgery as a Bearer token, and does not let it reach users as an ADMIN', async () => {
      const forged = await craftToken(randomBytes(32), { kid: await liveKid() });
      expectRefused(await me(bearer(`Bearer ${forged}`)), TokenRejection.TOKEN_INVALID);
      expectRefused(await gateway.request(UsersDocument, {}, bearer(`Bearer ${forged}`)), TokenRejection.TOKEN_INVALID);
    });

    it.each([
      ['Basic credentials', 'Basic xyz'],
      ['"Bearer" with no token', 'Bearer'],
      ['"Bearer" with two words', 'Bearer a b'],
      ['an empty value', ''],
    ])('refuses a malformed Authorization header: %s (TOKEN_INVALID)', async (_name, value) => {
      expectRefused(await me(bearer(value)), TokenRejection.TOKEN_INVALID);
    });

    it('refuses a genuine token under another scheme or followed by another word', async () => {
      const { accessToken } = await loginForBody(ADA);
      expect((await me(bearer(`Bearer ${accessToken}`))).body.data?.me.email).toBe(ADA);
      expectRefused(await me(bearer(`Token ${accessToken}`)), TokenRejection.TOKEN_INVALID);
      expectRefused(await me(bearer(`Bearer ${accessToken} extra`)), TokenRejection.TOKEN_INVALID);
      expectRefused(await me(bearer(`Basic ${accessToken}`)), TokenRejection.TOKEN_INVALID);
    });

    it('refuses a genuine token in the Authorization header without the Bearer scheme', async () => {
      const { accessToken } = await loginForBody(ADA);
      expectRefused(await me(bearer(accessToken)), TokenRejection.TOKEN_INVALID);
    });

    it.each([
      ['a word', 'garbage'],
      ['three junk parts', 'a.b.c'],
      ['an alg:none token', 'eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4Iiwicm9sZXMiOlsiQURNSU4iXX0.'],
      ['5000 characters', 'x'.repeat(5000)],
    ])('refuses a Bearer header holding garbage: %s (TOKEN_INVALID)', async (_name, value) => {
      expectRefused(await me(bearer(`Bearer ${value}`)), TokenRejection.TOKEN_INVALID);
    });

    it('uses a bad Authorization header rather than falling back to a good access cookie', async () => {
      const cookie = await accessCookieFor(ADA);
      expect((await me({ cookie })).body.data?.me.email).toBe(ADA);
      expectRefused(await me({ cookie, ...bearer('Bearer garbage') }), TokenRejection.TOKEN_INVALID);
    });

    it('refuses an oversized access cookie of 5000 characters (TOKEN_INVALID)', async () => {
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${'a'.repeat(5000)}` }), TokenRejection.TOKEN_INVALID);
    });

    it('refuses an oversized access cookie even when it is signed with the gateway secret (TOKEN_INVALID)', async () => {
      const oversized = await craftToken(gateway.config.tokens.jwtSecret!.bytes(), { kid: await liveKid(), pad: 'x'.repeat(5000) });
      expect(oversized.length).toBeGreaterThan(5000);
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${oversized}` }), TokenRejection.TOKEN_INVALID);
    });

    it.each([
      ['an empty access cookie', `${ACCESS_COOKIE}=`],
      ['an empty access cookie among stray separators', `;;${ACCESS_COOKIE}=;;`],
      ['a quoted value', `${ACCESS_COOKIE}="a.b.c"`],
      ['a broken percent-escape', `${ACCESS_COOKIE}=%E0%A4%A`],
      ['a garbage access cookie before a second one', `${ACCESS_COOKIE}=junk; other=1; ${ACCESS_COOKIE}=more-junk`],
    ])('refuses a malformed cookie header with %s (TOKEN_INVALID)', async (_name, cookie) => {
      expectRefused(await me({ cookie }), TokenRejection.TOKEN_INVALID);
    });

    // `=;;;__Host-portcullis-access` holds no access-cookie pair at all (the name has no `=`), so the caller is a
    // guest: refused as UNAUTHENTICATED with no reason, and never as a user.
    it('treats a malformed cookie header without an access-cookie pair as a guest', async () => {
      const response = await me({ cookie: `=;;;${ACCESS_COOKIE}` });
      expect(response.body.data).toBeNull();
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED });
    });

    it('refuses the refresh token from a BODY login sent as Authorization: Bearer (TOKEN_INVALID)', async () => {
      const { refreshToken } = await loginForBody(ADA);
      expect(isWellFormedRefreshToken(refreshToken)).toBe(true);
      expectRefused(await me(bearer(`Bearer ${refreshToken}`)), TokenRejection.TOKEN_INVALID);
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${refreshToken}` }), TokenRejection.TOKEN_INVALID);
    });

    it('never runs the me resolver for a rejected token', async () => {
      const getUser = vi.spyOn(gateway.app.auth, 'getUser');
      const forged = await craftToken(randomBytes(32), { kid: await liveKid() });
      for (const options of [{ cookie: `${ACCESS_COOKIE}=${forged}` }, bearer(`Bearer ${forged}`), bearer('Bearer a.b.c')]) {
        const response = await me(options);
        expect(response.body.data).toBeNull();
        expect(response.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.UNAUTHENTICATED);
      }
      expect(getUser).not.toHaveBeenCalled();

      // The spy does see a genuine call, so the assertion above can fail.
      const { accessToken } = await loginForBody(ADA);
      await me(bearer(`Bearer ${accessToken}`));
      expect(getUser).toHaveBeenCalledWith(ada.id);
    });

    it('never runs the users resolver for a forged ADMIN token', async () => {
      const listUsers = vi.spyOn(gateway.app.auth, 'listUsers');
      const forged = await craftToken(randomBytes(32), { kid: await liveKid() });
      const response = await gateway.request(UsersDocument, {}, bearer(`Bearer ${forged}`));
      expectRefused(response, TokenRejection.TOKEN_INVALID);
      expect(listUsers).not.toHaveBeenCalled();
    });
  });

  describe('expiry', () => {
    it('answers until the token expires, then refuses the same cookie with TOKEN_EXPIRED', async () => {
      const cookie = await accessCookieFor(ADA);
      const { exp } = decodeJwt(cookie.slice(`${ACCESS_COOKIE}=`.length));
      if (typeof exp !== 'number') throw new Error('expected exp');
      const { accessTokenTtlSeconds, clockToleranceSeconds } = gateway.config.tokens;
      expect(exp).toBe(START_MS / 1000 + accessTokenTtlSeconds);

      clock = (exp - 1) * 1000;
      expect((await me({ cookie })).body.data?.me.email).toBe(ADA);

      clock = (exp + clockToleranceSeconds) * 1000;
      expectRefused(await me({ cookie }), TokenRejection.TOKEN_EXPIRED);
      expectRefused(await gateway.request(CurrentSessionDocument, {}, { cookie }), TokenRejection.TOKEN_EXPIRED);
    });

    it('refuses an expired Bearer token with TOKEN_EXPIRED', async () => {
      const { accessToken, accessTokenExpiresAt } = await loginForBody(ADA);
      clock = new Date(accessTokenExpiresAt).getTime() + gateway.config.tokens.clockToleranceSeconds * 1000 + 60_000;
      expectRefused(await me(bearer(`Bearer ${accessToken}`)), TokenRejection.TOKEN_EXPIRED);
    });

    it('refuses an expired forgery with TOKEN_INVALID, not TOKEN_EXPIRED', async () => {
      const kid = await liveKid();
      const expiresAt = Math.floor(clock / 1000) - 3600;
      const genuine = await craftToken(gateway.config.tokens.jwtSecret!.bytes(), { kid, expiresAt });
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${genuine}` }), TokenRejection.TOKEN_EXPIRED);
      const forged = await craftToken(randomBytes(32), { kid, expiresAt });
      expectRefused(await me({ cookie: `${ACCESS_COOKIE}=${forged}` }), TokenRejection.TOKEN_INVALID);
    });
  });

  describe('sessions and roles', () => {
    it('login with delivery BODY returns both tokens in the body and sets no cookie', async () => {
      const response = await gateway.request(LoginDocument, { email: ADA, password: PASSWORD, delivery: 'BODY' });
      expect(response.body.errors).toBeUndefined();
      const login = response.body.data?.login;
      expect(login?.user.email).toBe(ADA);
      expect(login?.accessToken).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(isWellFormedRefreshToken(login?.refreshToken ?? '')).toBe(true);
      expect(response.setCookies).toEqual([]);
      expect(response.headers.get('set-cookie')).toBeNull();
    });

    it('answers me and currentSession with the Bearer access token from a BODY login', async () => {
      const { accessToken, accessTokenExpiresAt } = await loginForBody(ADA);
      const meResponse = await me(bearer(`Bearer ${accessToken}`));
      expect(meResponse.body.errors).toBeUndefined();
      expect(meResponse.body.data?.me).toEqual({ id: ada.id, email: ADA, roles: ['USER'] });

      const session = await gateway.request(CurrentSessionDocument, {}, bearer(`Bearer ${accessToken}`));
      expect(session.body.data?.currentSession.id).toBe(decodeJwt(accessToken)['sid']);
      expect(new Date(session.body.data?.currentSession.accessTokenExpiresAt ?? 0).getTime()).toBe(new Date(accessTokenExpiresAt).getTime());
    });

    it('refuses a guest with UNAUTHENTICATED and no reason', async () => {
      for (const response of [await gateway.request(MeDocument, {}), await gateway.request(CurrentSessionDocument, {})]) {
        expect(response.body.data).toBeNull();
        expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED });
      }
    });

    it('answers users with FORBIDDEN for a signed-in user without ADMIN', async () => {
      const listUsers = vi.spyOn(gateway.app.auth, 'listUsers');
      const { accessToken } = await loginForBody(ADA);
      const response = await gateway.request(UsersDocument, {}, bearer(`Bearer ${accessToken}`));
      expect(response.body.data).toBeNull();
      expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.FORBIDDEN });
      expect(listUsers).not.toHaveBeenCalled();
    });

    it('answers users with the list for an ADMIN', async () => {
      const { accessToken } = await loginForBody(ROOT);
      const response = await gateway.request(UsersDocument, {}, bearer(`Bearer ${accessToken}`));
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.users.map((user) => user.email).sort()).toEqual([ADA, ROOT]);
    });

    it.each([
      ['a forged access cookie', async () => ({ cookie: `${ACCESS_COOKIE}=${await craftToken(randomBytes(32), { kid: await liveKid() })}` })],
      ['a garbage access cookie', async () => ({ cookie: `${ACCESS_COOKIE}=garbage` })],
      ['a garbage Bearer header', async () => bearer('Bearer garbage')],
    ] as const)('lets login succeed while %s is present', async (_name, makeOptions) => {
      const options = await makeOptions();
      for (const path of ['/graphql', AUTH_PATH] as const) {
        const response = await gateway.request(LoginDocument, { email: ADA, password: PASSWORD }, { ...options, path });
        expect(response.body.errors).toBeUndefined();
        expect(response.body.data?.login.user.email).toBe(ADA);
        expect(response.setCookies.some((line) => line.startsWith(`${ACCESS_COOKIE}=`))).toBe(true);
        expect(response.setCookies.some((line) => line.startsWith(`${REFRESH_COOKIE}=`))).toBe(true);
      }
    });

    it('lets login succeed while an expired access cookie is present', async () => {
      const cookie = await accessCookieFor(ADA);
      clock = START_MS + 24 * 3600 * 1000;
      expectRefused(await me({ cookie }), TokenRejection.TOKEN_EXPIRED);
      const response = await gateway.request(LoginDocument, { email: ADA, password: PASSWORD }, { cookie });
      expect(response.body.data?.login.user.email).toBe(ADA);
      const fresh = cookiePair(response.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));
      expect((await me({ cookie: fresh })).body.data?.me.email).toBe(ADA);
    });
  });
});
