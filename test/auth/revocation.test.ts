import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { CurrentSessionDocument, LoginDocument, LogoutDocument, MeDocument, RefreshDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { cookieAttributes, cookiePair, startGateway, type GraphQLResponse, type RequestOptions, type TestGateway, rawCollection } from '../support/gateway.js';
import { commandsDuring, isExpirySweep, isRevocationViewRead } from '../support/commands.js';

const PASSWORD = 'correct horse battery staple';
/** Slack on top of exp + clock tolerance for a blocklist entry: the gateway's rounding plus the test's own latency. */
const ENTRY_SLACK_MS = 5_000;
/**
 * How far apart instances' clocks may be (docs/sessions.md). A session entry is dated by its writer's clock,
 * so it must outlive the token by this much as well; a token entry is dated by the token's own `exp`.
 */
const ALLOWED_SKEW_MS = 30_000;

interface CookieSession {
  /** `name=value` pairs, as a browser would send them. */
  readonly accessCookie: string;
  readonly refreshCookie: string;
  /** The Set-Cookie lines of the login, for comparing attributes. */
  readonly accessSetCookie: string;
  readonly refreshSetCookie: string;
  readonly accessToken: string;
}

interface BodySession {
  readonly accessToken: string;
  readonly refreshToken: string;
}

const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

function claimsOf(accessToken: string): { sid: string; jti: string; exp: number } {
  const { sid, jti, exp } = decodeJwt(accessToken);
  if (typeof sid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') throw new Error('expected sid, jti and exp claims');
  return { sid, jti, exp };
}

function setCookieFor(response: GraphQLResponse<unknown>, name: string): string {
  const line = response.setCookies.find((candidate) => candidate.startsWith(`${name}=`));
  if (!line) throw new Error(`expected a Set-Cookie for ${name}`);
  return line;
}

async function loginWithCookies(gateway: TestGateway, email: string): Promise<CookieSession> {
  const response = await gateway.request(LoginDocument, { email, password: PASSWORD });
  expect(response.body.errors).toBeUndefined();
  const accessSetCookie = setCookieFor(response, ACCESS_COOKIE);
  const refreshSetCookie = setCookieFor(response, REFRESH_COOKIE);
  const accessCookie = cookiePair(accessSetCookie);
  return {
    accessCookie,
    refreshCookie: cookiePair(refreshSetCookie),
    accessSetCookie,
    refreshSetCookie,
    accessToken: accessCookie.slice(`${ACCESS_COOKIE}=`.length),
  };
}

async function loginForBody(gateway: TestGateway, email: string): Promise<BodySession> {
  const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
  expect(response.body.errors).toBeUndefined();
  const login = response.body.data?.login;
  if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
  return { accessToken: login.accessToken, refreshToken: login.refreshToken };
}

function expectRefusedAsRevoked(response: GraphQLResponse<unknown>): void {
  expect(response.body.data).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
}

function expectCode(response: GraphQLResponse<unknown>, code: ErrorCode): void {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors?.[0]?.extensions?.['code']).toBe(code);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('session revocation', () => {
  let gateway: TestGateway;
  let ada: { id: string; email: string };

  const raw = (name: string) => rawCollection(gateway, name);

  beforeAll(async () => {
    gateway = await startGateway();
    ada = await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  describe('logout', () => {
    it('refuses the logged-out access cookie at once with TOKEN_INVALID', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      const cookie = session.accessCookie;
      expect((await gateway.request(MeDocument, {}, { cookie })).body.data?.me.id).toBe(ada.id);

      const logout = await gateway.request(LogoutDocument, {}, { path: AUTH_PATH, cookie: `${session.accessCookie}; ${session.refreshCookie}` });
      expect(logout.body.errors).toBeUndefined();
      expect(logout.body.data?.logout).toBe(true);

      // No waiting: the instance that wrote the revocation enforces it before its next poll.
      expectRefusedAsRevoked(await gateway.request(MeDocument, {}, { cookie }));
      expectRefusedAsRevoked(await gateway.request(CurrentSessionDocument, {}, { cookie }));
    });

    it('makes the refresh cookie of the logged-out session answer REFRESH_TOKEN_INVALID', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      await gateway.request(LogoutDocument, {}, { path: AUTH_PATH, cookie: `${session.accessCookie}; ${session.refreshCookie}` });

      const refresh = await gateway.request(RefreshDocument, {}, { path: AUTH_PATH, cookie: session.refreshCookie });
      expectCode(refresh, ErrorCode.REFRESH_TOKEN_INVALID);
      expect(refresh.setCookies.some((line) => line.startsWith(`${ACCESS_COOKIE}=`) && !line.startsWith(`${ACCESS_COOKIE}=;`))).toBe(false);
    });

    it('refreshes with the cookie while the session is live (control for the refusal above)', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      const refresh = await gateway.request(RefreshDocument, {}, { path: AUTH_PATH, cookie: session.refreshCookie });
      expect(refresh.body.errors).toBeUndefined();
      expect(refresh.body.data?.refresh.user.id).toBe(ada.id);
    });

    it('clears both cookies with Max-Age=0 and the attributes they were set with', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      const logout = await gateway.request(LogoutDocument, {}, { path: AUTH_PATH, cookie: `${session.accessCookie}; ${session.refreshCookie}` });
      expect(logout.setCookies).toHaveLength(2);

      for (const [name, setLine] of [
        [ACCESS_COOKIE, session.accessSetCookie],
        [REFRESH_COOKIE, session.refreshSetCookie],
      ] as const) {
        const cleared = setCookieFor(logout, name);
        expect(cookiePair(cleared)).toBe(`${name}=`);
        const { 'max-age': maxAge, expires: _expires, ...attributes } = cookieAttributes(cleared);
        const { 'max-age': _setMaxAge, expires: _setExpires, ...setAttributes } = cookieAttributes(setLine);
        expect(maxAge).toBe('0');
        // Same Path, Secure, HttpOnly and SameSite: otherwise the browser keeps the original cookie.
        expect(attributes).toEqual(setAttributes);
      }
    });

    it('writes a session entry that outlives the access token by the clock tolerance and the allowed skew, and a token entry by the tolerance, each by no more than a few seconds beyond', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      const { sid, jti, exp } = claimsOf(session.accessToken);
      await gateway.request(LogoutDocument, {}, { path: AUTH_PATH, cookie: `${session.accessCookie}; ${session.refreshCookie}` });

      const { clockToleranceSeconds } = gateway.config.tokens;
      const acceptedUntil = (exp + clockToleranceSeconds) * 1000;
      for (const [id, kind, entryId, skew] of [
        [`session:${sid}`, 'session', sid, ALLOWED_SKEW_MS],
        [`token:${jti}`, 'token', jti, 0],
      ] as const) {
        const entry = await raw('revocations').findOne({ _id: id });
        expect(entry, id).not.toBeNull();
        expect(entry?.['kind']).toBe(kind);
        expect(entry?.['id']).toBe(entryId);
        const expiresAt = (entry?.['expiresAt'] as Date).getTime();
        expect(expiresAt, `${id} must outlive the token`).toBeGreaterThan(exp * 1000);
        // The token is accepted until exp + tolerance (on a clock up to the allowed skew away from the session
        // entry's writer): the entry must cover that, and need not last much longer.
        expect(expiresAt, `${id} must cover the clock tolerance and skew`).toBeGreaterThanOrEqual(acceptedUntil + skew);
        expect(expiresAt, `${id} must not outlive the token by much`).toBeLessThanOrEqual(acceptedUntil + skew + ENTRY_SLACK_MS);
      }
    });

    it('ends the session when logout presents only a refresh token in the body', async () => {
      const session = await loginForBody(gateway, ada.email);
      const { sid } = claimsOf(session.accessToken);

      let logout: GraphQLResponse<{ logout: boolean }> | undefined;
      const commands = await commandsDuring(gateway.app.database.connection.getClient(), async () => {
        logout = await gateway.request(LogoutDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH });
      }, (event) => `${event.commandName} ${String(event.command[event.commandName])}`);
      expect(logout?.body.errors).toBeUndefined();
      expect(logout?.body.data?.logout).toBe(true);
      // On FerretDB a delete by sessionId reads the whole collection: the tokens go in a later batch, not here.
      expect(commands).not.toContain('delete refresh_tokens');

      expectCode(await gateway.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH }), ErrorCode.REFRESH_TOKEN_INVALID);
      expectRefusedAsRevoked(await gateway.request(MeDocument, {}, bearer(session.accessToken)));
      const record = await raw('sessions').findOne({ _id: sid });
      expect(record?.['revokedAt']).toBeInstanceOf(Date);
      // Its refresh tokens go in the next batch of deletes; the refusals above did not wait for it.
      await gateway.app.database.flushDeletes();
      expect(await raw('refresh_tokens').countDocuments({ sessionId: sid })).toBe(0);
    });

    it('answers true to a logout that presents nothing', async () => {
      const logout = await gateway.request(LogoutDocument, {}, { path: AUTH_PATH });
      expect(logout.body.errors).toBeUndefined();
      expect(logout.body.data?.logout).toBe(true);
      const onApi = await gateway.request(LogoutDocument, {});
      expect(onApi.body.errors).toBeUndefined();
      expect(onApi.body.data?.logout).toBe(true);
    });

    it('answers true to a logout with an unknown refresh token and ends no other session', async () => {
      const bystander = await loginForBody(gateway, ada.email);
      const logout = await gateway.request(LogoutDocument, { refreshToken: 'not-a-refresh-token' }, { path: AUTH_PATH });
      expect(logout.body.data?.logout).toBe(true);
      expect((await gateway.request(MeDocument, {}, bearer(bystander.accessToken))).body.data?.me.id).toBe(ada.id);
    });

    it('refuses a refresh token re-inserted after the delete, because its session record is revoked', async () => {
      const session = await loginForBody(gateway, ada.email);
      const { sid } = claimsOf(session.accessToken);
      const copies = await raw('refresh_tokens').find({ sessionId: sid }).toArray();
      expect(copies).toHaveLength(1);

      await gateway.request(LogoutDocument, {}, { path: AUTH_PATH, ...bearer(session.accessToken) });
      await gateway.app.database.flushDeletes();
      expect(await raw('refresh_tokens').countDocuments({ sessionId: sid })).toBe(0);

      // The non-atomic race: a token record that slipped past deleteBySession (or was written concurrently).
      await raw('refresh_tokens').insertMany(copies);
      expect(await raw('refresh_tokens').countDocuments({ sessionId: sid })).toBe(1);

      const refresh = await gateway.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH });
      expectCode(refresh, ErrorCode.REFRESH_TOKEN_INVALID);
      expect((await raw('sessions').findOne({ _id: sid }))?.['revokedAt']).toBeInstanceOf(Date);
    });
  });

  describe('database round trips', () => {
    it('makes no database command for an authenticated currentSession request, and at least one for me (control)', async () => {
      const session = await loginWithCookies(gateway, ada.email);
      const client = gateway.app.database.connection.getClient();
      const seen: string[] = [];
      const listener = (event: { commandName: string; command: Record<string, unknown> }): void => {
        // The revocation view's periodic poll runs whatever the requests do.
        if (isRevocationViewRead(event)) return;
        // The expiry sweeper (servers without TTL indexes) runs once a minute, also independently of requests.
        if (event.commandName === 'delete' && isExpirySweep(event.command)) return;
        seen.push(`${event.commandName} ${JSON.stringify(event.command[event.commandName] ?? '')}`);
      };

      async function commandsDuring(request: () => Promise<GraphQLResponse<unknown>>): Promise<{ commands: string[]; response: GraphQLResponse<unknown> }> {
        seen.length = 0;
        client.on('commandStarted', listener);
        try {
          const response = await request();
          // Fire-and-forget work started by the request would show up shortly after the answer.
          await sleep(100);
          return { commands: [...seen], response };
        } finally {
          client.off('commandStarted', listener);
        }
      }

      const current = await commandsDuring(() => gateway.request(CurrentSessionDocument, {}, { cookie: session.accessCookie }));
      expect(current.response.body.errors).toBeUndefined();
      expect((current.response.body.data as { currentSession: { id: string } }).currentSession.id).toBe(claimsOf(session.accessToken).sid);
      expect(current.commands).toEqual([]);

      const me = await commandsDuring(() => gateway.request(MeDocument, {}, { cookie: session.accessCookie }));
      expect(me.response.body.errors).toBeUndefined();
      expect(me.commands.length).toBeGreaterThanOrEqual(1);
    });
  });
});


describe('revocation across two gateway instances sharing one database', () => {
  let config: Config;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    config = testConfig();
    a = await startGateway({ config });
    b = await startGateway({ config });
    await a.createUser({ email: 'grace@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    // b.stop() drops the shared database; a only closes its connection.
    await a?.app.stop();
    await b?.stop();
  });

  it('makes B refuse an access token within a second of its logout through A', async () => {
    const session = await loginForBody(a, 'grace@example.com');
    // Control: B accepts the token A issued, before the logout.
    expect((await b.request(MeDocument, {}, bearer(session.accessToken))).body.data?.me.email).toBe('grace@example.com');

    const logout = await a.request(LogoutDocument, {}, bearer(session.accessToken));
    expect(logout.body.data?.logout).toBe(true);
    const loggedOutAt = performance.now();

    let refused: GraphQLResponse<unknown> | undefined;
    let polls = 0;
    while (performance.now() - loggedOutAt < 3_000) {
      polls++;
      const response = await b.request(MeDocument, {}, bearer(session.accessToken));
      if (response.body.errors) {
        refused = response;
        break;
      }
      expect(response.body.data?.me.email).toBe('grace@example.com');
      await sleep(50);
    }
    const elapsed = performance.now() - loggedOutAt;
    console.info(`cross-instance revocation: B refused the token ${elapsed.toFixed(0)} ms after A's logout returned (${polls} polls)`);

    expect(refused, 'B never refused the logged-out token').toBeDefined();
    expectRefusedAsRevoked(refused as GraphQLResponse<unknown>);
    expect(elapsed).toBeLessThan(1_000);
  });
});

describe('revocation view that stops syncing while the database is reachable', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ REVOCATION_MAX_LAG_SECONDS: '1' }) });
    await gateway.createUser({ email: 'kay@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers SERVICE_UNAVAILABLE and /readyz 503 on staleness alone, not only when the database is down', async () => {
    const session = await loginWithCookies(gateway, 'kay@example.com');
    const cookie = session.accessCookie;
    expect((await gateway.request(CurrentSessionDocument, {}, { cookie })).body.errors).toBeUndefined();

    gateway.app.view.stop();
    await vi.waitFor(
      async () => {
        const response = await gateway.request(CurrentSessionDocument, {}, { cookie });
        expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE });
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(await gateway.app.database.ping()).toBe(true);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
  });
});

describe('revocation view that cannot sync', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ REVOCATION_MAX_LAG_SECONDS: '1' }) });
    await gateway.createUser({ email: 'lin@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    try {
      await gateway?.app.stop();
    } catch {
      // The connection is already closed by the test.
    }
  });

  it('answers SERVICE_UNAVAILABLE on @authorized fields and 503 on /readyz once the view is older than the bound', async () => {
    const session = await loginWithCookies(gateway, 'lin@example.com');
    const cookie = session.accessCookie;
    // Controls: both answer normally while the view syncs.
    expect((await gateway.request(CurrentSessionDocument, {}, { cookie })).body.data?.currentSession.id).toBe(claimsOf(session.accessToken).sid);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);

    // Drop the database while we still can, then take the connection away from the gateway.
    await gateway.app.database.connection.dropDatabase();
    await gateway.app.database.connection.close();

    await vi.waitFor(
      async () => {
        const response = await gateway.request(CurrentSessionDocument, {}, { cookie });
        expect(response.body.data).toBeNull();
        expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE });
      },
      { timeout: 5_000, interval: 100 },
    );
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable' });

    // A public field still answers: only vouching for tokens stops.
    const guest = await gateway.request(LogoutDocument, {}, { path: AUTH_PATH });
    expect(guest.body.data?.logout).toBe(true);
  });
});
