import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { createRefreshTokenKeys, generateRefreshToken, isWellFormedRefreshToken, type RefreshTokenKeys } from '../../src/tokens/refresh-token.js';
import {
  CurrentSessionDocument,
  LoginDocument,
  LogoutDocument,
  MeDocument,
  RefreshDocument,
  type RefreshMutation,
} from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { cookieAttributes, cookiePair, startGateway, type GraphQLResponse, type RequestOptions, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';

/** The gateways' clock. Tests move it instead of sleeping; every test starts from START_MS. */
const START_MS = Math.floor(Date.now() / 1000) * 1000;
let clock = START_MS;
const SECOND = 1000;

interface RawRefreshToken {
  _id: string;
  reissued?: boolean;
  sessionId: string;
  userId: string;
  generation: number;
  expiresAt: Date;
  sessionExpiresAt: Date;
  createdAt: Date;
}
interface RawSession {
  _id: string;
  revokedAt: Date | null;
  revokedReason: string | null;
}
interface RawAuditEvent {
  type: string;
  userId: string;
  sessionId: string | null;
}

/** What a client holds after a BODY login or refresh. */
interface BodyTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly accessTokenExpiresAt: string;
  readonly refreshTokenExpiresAt: string;
  readonly sessionId: string;
}

/** A gateway plus the helpers every test here uses. The keys are derived from the gateway's own config. */
class Harness {
  readonly keys: RefreshTokenKeys;
  private emails = 0;

  constructor(readonly gateway: TestGateway) {
    this.keys = createRefreshTokenKeys(gateway.config.tokens.refreshTokenHashSecret);
  }

  raw<T extends object>(name: 'refresh_tokens' | 'sessions' | 'audit_events' | 'users') {
    return this.gateway.app.database.connection.db!.collection<T>(name);
  }

  refreshTokens() {
    return this.raw<RawRefreshToken>('refresh_tokens');
  }

  /** A user of its own for every test, so no test sees another's sessions or roles. */
  async newUser(): Promise<{ id: string; email: string }> {
    return this.gateway.createUser({ email: `user${++this.emails}-${Math.random().toString(36).slice(2, 8)}@example.com`, password: PASSWORD });
  }

  async loginForBody(email: string): Promise<BodyTokens> {
    const response = await this.gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    expect(response.body.errors).toBeUndefined();
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    return { ...login, accessToken: login.accessToken, refreshToken: login.refreshToken, sessionId: sessionIdOf(login.accessToken) };
  }

  /** A browser login at the auth endpoint: both Set-Cookie lines. */
  async loginForCookies(email: string): Promise<{ access: string; refresh: string }> {
    const response = await this.gateway.request(LoginDocument, { email, password: PASSWORD }, { path: AUTH_PATH });
    expect(response.body.errors).toBeUndefined();
    return { access: setCookieFor(response, ACCESS_COOKIE), refresh: setCookieFor(response, REFRESH_COOKIE) };
  }

  /** `refresh(refreshToken: …)`: delivery defaults to BODY. */
  refreshWithArgument(refreshToken: string): Promise<GraphQLResponse<RefreshMutation>> {
    return this.gateway.request(RefreshDocument, { refreshToken });
  }

  /** `refresh` with the token in the refresh cookie, where browsers send it. */
  refreshWithCookie(refreshToken: string, options: RequestOptions = {}): Promise<GraphQLResponse<RefreshMutation>> {
    return this.gateway.request(RefreshDocument, {}, { path: AUTH_PATH, cookie: `${REFRESH_COOKIE}=${refreshToken}`, ...options });
  }

  /** Refreshes with the argument and expects success. */
  async rotate(refreshToken: string): Promise<BodyTokens> {
    const response = await this.refreshWithArgument(refreshToken);
    expect(response.body.errors).toBeUndefined();
    return bodyTokens(response);
  }

  async record(refreshToken: string): Promise<RawRefreshToken | null> {
    return this.refreshTokens().findOne({ _id: this.keys.hash(refreshToken) });
  }

  async session(sessionId: string): Promise<RawSession | null> {
    return this.raw<RawSession>('sessions').findOne({ _id: sessionId });
  }

  me(accessToken: string) {
    return this.gateway.request(MeDocument, {}, { headers: { authorization: `Bearer ${accessToken}` } });
  }
}

function sessionIdOf(accessToken: string): string {
  const sid = decodeJwt(accessToken)['sid'];
  if (typeof sid !== 'string') throw new Error('expected a sid claim');
  return sid;
}

function bodyTokens(response: GraphQLResponse<RefreshMutation>): BodyTokens {
  const refresh = response.body.data?.refresh;
  if (!refresh?.accessToken || !refresh.refreshToken) throw new Error(`expected tokens in the refresh body, got ${JSON.stringify(response.body)}`);
  return { ...refresh, accessToken: refresh.accessToken, refreshToken: refresh.refreshToken, sessionId: sessionIdOf(refresh.accessToken) };
}

function setCookieFor(response: GraphQLResponse<unknown>, name: string): string {
  const lines = response.setCookies.filter((line) => line.startsWith(`${name}=`));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

function cookieValue(setCookie: string): string {
  return decodeURIComponent(cookiePair(setCookie).slice(cookiePair(setCookie).indexOf('=') + 1));
}

function errorCodeOf(response: GraphQLResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.['code'];
}

function expectRefreshRefused(response: GraphQLResponse<RefreshMutation>, code: ErrorCode): void {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions).toEqual({ code });
}

function expectAccessRefused(response: GraphQLResponse<unknown>, reason: TokenRejection): void {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason });
}

/** Both cookies expired: same names and paths as when set, empty values, Max-Age=0. */
function expectCookiesCleared(response: GraphQLResponse<unknown>): void {
  expect(response.setCookies).toHaveLength(2);
  for (const [name, path] of [
    [ACCESS_COOKIE, '/'],
    [REFRESH_COOKIE, AUTH_PATH],
  ] as const) {
    const line = setCookieFor(response, name);
    expect(cookiePair(line)).toBe(`${name}=`);
    expect(cookieAttributes(line)).toMatchObject({ 'max-age': '0', path, httponly: true, secure: true });
  }
}

beforeEach(() => {
  clock = START_MS;
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('refresh with the default grace window', () => {
  let h: Harness;

  beforeAll(async () => {
    h = new Harness(await startGateway({ app: { now: () => clock } }));
    expect(h.gateway.config.tokens.refreshGraceSeconds).toBe(10);
  });
  afterAll(async () => {
    await h?.gateway.stop();
  });

  describe('delivery', () => {
    it('refreshes with the cookie at /graphql/auth and sets both cookies with exactly the attributes login sets', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForCookies(email);
      const oldRefresh = cookieValue(login.refresh);

      const response = await h.refreshWithCookie(oldRefresh);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.refresh.user.email).toBe(email);
      // Cookie delivery: nothing in the body.
      expect(response.body.data?.refresh.accessToken).toBeNull();
      expect(response.body.data?.refresh.refreshToken).toBeNull();

      expect(response.setCookies).toHaveLength(2);
      const access = setCookieFor(response, ACCESS_COOKIE);
      const refresh = setCookieFor(response, REFRESH_COOKIE);
      // Same clock as the login, so even Max-Age must match.
      expect(cookieAttributes(access)).toEqual(cookieAttributes(login.access));
      expect(cookieAttributes(refresh)).toEqual(cookieAttributes(login.refresh));

      const newRefresh = cookieValue(refresh);
      expect(isWellFormedRefreshToken(newRefresh)).toBe(true);
      expect(newRefresh).not.toBe(oldRefresh);
      expect(cookieValue(access)).not.toBe(cookieValue(login.access));

      const me = await h.gateway.request(MeDocument, {}, { cookie: cookiePair(access) });
      expect(me.body.errors).toBeUndefined();
      expect(me.body.data?.me.email).toBe(email);
    });

    it('refreshes with a refreshToken argument: tokens in the body, no Set-Cookie', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);

      const response = await h.refreshWithArgument(login.refreshToken);
      expect(response.body.errors).toBeUndefined();
      expect(response.setCookies).toEqual([]);
      expect(response.headers.get('set-cookie')).toBeNull();
      const refreshed = bodyTokens(response);
      expect(isWellFormedRefreshToken(refreshed.refreshToken)).toBe(true);
      expect(refreshed.refreshToken).not.toBe(login.refreshToken);
      expect(refreshed.accessToken).not.toBe(login.accessToken);
      expect(refreshed.sessionId).toBe(login.sessionId);
      expect((await h.me(refreshed.accessToken)).body.data?.me.email).toBe(email);
    });
  });

  describe('rotation under contention', () => {
    it('gives 50 concurrent refreshes of one token the identical successor and stores exactly one successor record', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);

      const responses = await Promise.all(Array.from({ length: 50 }, () => h.refreshWithArgument(login.refreshToken)));
      for (const response of responses) expect(response.body.errors).toBeUndefined();
      const results = responses.map(bodyTokens);
      const successors = new Set(results.map((result) => result.refreshToken));
      expect(successors.size).toBe(1);
      const [successor] = successors;
      expect(successor).not.toBe(login.refreshToken);
      // The successor is the derived one: whoever won, nobody could have made up another.
      expect(successor).toBe(h.keys.successor(login.refreshToken));

      // The original and one successor, nothing else.
      const records = await h.refreshTokens().find({ sessionId: login.sessionId }).toArray();
      expect(records.map((record) => record._id).sort()).toEqual([h.keys.hash(login.refreshToken), h.keys.hash(successor!)].sort());
      expect((await h.record(successor!))?.generation).toBe(1);
      expect((await h.session(login.sessionId))?.revokedAt).toBeNull();

      // Every one of the 50 access tokens is live: nobody was treated as a thief.
      const mes = await Promise.all(results.map((result) => h.me(result.accessToken)));
      for (const me of mes) expect(me.body.data?.me.email).toBe(email);

      // The successor rotates in turn, to generation 2.
      const next = await h.rotate(successor!);
      expect(next.refreshToken).not.toBe(successor);
      expect((await h.record(next.refreshToken))?.generation).toBe(2);
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(3);
    });
  });

  describe('retries and the grace window', () => {
    it('returns the same successor, byte for byte, to a client that retries after losing the response of a successful rotation', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);

      const first = await h.rotate(login.refreshToken); // the response the client never saw
      clock += 3 * SECOND;
      const retry = await h.rotate(login.refreshToken);

      expect(retry.refreshToken).toBe(first.refreshToken);
      expect(Buffer.from(retry.refreshToken).equals(Buffer.from(first.refreshToken))).toBe(true);
      // The successor's idle expiry is the stored one, not restarted by the retry.
      expect(retry.refreshTokenExpiresAt).toBe(first.refreshTokenExpiresAt);
      // A fresh access token that works.
      expect(retry.accessToken).not.toBe(first.accessToken);
      expect((await h.me(retry.accessToken)).body.data?.me.email).toBe(email);
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(2);

      // And the session carries on from that successor.
      const next = await h.rotate(retry.refreshToken);
      expect((await h.record(next.refreshToken))?.generation).toBe(2);
    });

    it('returns the same successor in the refresh cookie when a browser retries with the spent cookie inside the grace window', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForCookies(email);
      const spent = cookieValue(login.refresh);

      const first = await h.refreshWithCookie(spent);
      expect(first.body.errors).toBeUndefined();
      clock += 2 * SECOND;
      const retry = await h.refreshWithCookie(spent);
      expect(retry.body.errors).toBeUndefined();
      expect(cookieValue(setCookieFor(retry, REFRESH_COOKIE))).toBe(cookieValue(setCookieFor(first, REFRESH_COOKIE)));
    });

    it('recovers a rotation whose successor was stored but whose response was never produced (crash after the insert)', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const original = await h.record(login.refreshToken);
      if (!original) throw new Error('expected the login token record');

      // Exactly what a refresh stores before it answers, then nothing: the process died.
      const successor = h.keys.successor(login.refreshToken);
      await h.refreshTokens().insertOne({
        ...original,
        _id: h.keys.hash(successor),
        generation: 1,
        createdAt: new Date(clock),
      });
      clock += 5 * SECOND;

      const recovered = await h.rotate(login.refreshToken);
      expect(recovered.refreshToken).toBe(successor);
      expect((await h.me(recovered.accessToken)).body.data?.me.email).toBe(email);
      expect((await h.session(login.sessionId))?.revokedAt).toBeNull();
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(2);
    });

    it('still answers the just-spent token with the same successor one millisecond before the grace window ends', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken);

      clock += h.gateway.config.tokens.refreshGraceSeconds * SECOND - 1;
      const late = await h.rotate(login.refreshToken);
      expect(late.refreshToken).toBe(first.refreshToken);
    });

    it('returns the same successor to a retry long after the grace window while that successor is unspent, and the session lives on', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken); // the response the client never saw

      // The client comes back an hour later (laptop lid closed, train tunnel) with the token it still holds.
      clock += 3_600 * SECOND;
      const retry = await h.rotate(login.refreshToken);
      expect(retry.refreshToken).toBe(first.refreshToken);
      expect(retry.refreshTokenExpiresAt).toBe(first.refreshTokenExpiresAt);
      expect((await h.me(retry.accessToken)).body.data?.me.email).toBe(email);
      expect((await h.session(login.sessionId))?.revokedAt).toBeNull();
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(2);

      // And the session carries on from that successor.
      const next = await h.rotate(retry.refreshToken);
      expect((await h.record(next.refreshToken))?.generation).toBe(2);
    });

    it('treats the predecessor presented after its successor was itself used as reuse, after the grace window too, and ends the session', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken);
      const second = await h.rotate(first.refreshToken);

      clock += (h.gateway.config.tokens.refreshGraceSeconds + 1) * SECOND;
      expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_REUSED);
      expect((await h.session(login.sessionId))?.revokedReason).toBe('refresh-token-reused');
      expectRefreshRefused(await h.refreshWithArgument(second.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectAccessRefused(await h.me(second.accessToken), TokenRejection.TOKEN_INVALID);
    });

    it('gives a token that was handed out twice its successor again only within the grace window: a thief and its owner cannot keep taking turns', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      // A thief copied the owner's refresh token and refreshed with it first.
      const thief = await h.rotate(login.refreshToken);
      // The owner, an hour later, presents the same token: its successor is unspent, so this looks like a lost
      // response and the owner gets the thief's token too. Now two parties hold it.
      clock += 3_600 * SECOND;
      const owner = await h.rotate(login.refreshToken);
      expect(owner.refreshToken).toBe(thief.refreshToken);
      expect((await h.record(owner.refreshToken))?.reissued).toBe(true);

      // The thief refreshes again; the owner presents the shared token after the grace window.
      const thiefAgain = await h.rotate(thief.refreshToken);
      clock += (h.gateway.config.tokens.refreshGraceSeconds + 1) * SECOND;
      expectRefreshRefused(await h.refreshWithArgument(owner.refreshToken), ErrorCode.REFRESH_TOKEN_REUSED);
      expect((await h.session(login.sessionId))?.revokedReason).toBe('refresh-token-reused');
      expectRefreshRefused(await h.refreshWithArgument(thiefAgain.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectAccessRefused(await h.me(thiefAgain.accessToken), TokenRejection.TOKEN_INVALID);
    });

    it('gives 20 concurrent late retries of a spent token the one unspent successor and stores no other', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken);
      clock += 3_600 * SECOND;

      const responses = await Promise.all(Array.from({ length: 20 }, () => h.refreshWithArgument(login.refreshToken)));
      for (const response of responses) expect(response.body.errors).toBeUndefined();
      expect(new Set(responses.map((response) => bodyTokens(response).refreshToken))).toEqual(new Set([first.refreshToken]));
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(2);
      expect((await h.session(login.sessionId))?.revokedAt).toBeNull();
    });

    it('treats a token two generations old as reuse even inside the grace window, and ends the session', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken);
      const second = await h.rotate(first.refreshToken);
      clock += 1 * SECOND;

      expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_REUSED);
      expectRefreshRefused(await h.refreshWithArgument(second.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectAccessRefused(await h.me(second.accessToken), TokenRejection.TOKEN_INVALID);
    });

    it('gives the just-spent token of a later generation the current token inside the grace window, not a new one', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const first = await h.rotate(login.refreshToken);
      const second = await h.rotate(first.refreshToken);
      clock += 1 * SECOND;

      // `first` is the immediate predecessor of the current token `second`: the honest retry case.
      const retried = await h.rotate(first.refreshToken);
      expect(retried.refreshToken).toBe(second.refreshToken);
      expect(await h.refreshTokens().countDocuments({ sessionId: login.sessionId })).toBe(3);
      expect((await h.session(login.sessionId))?.revokedAt).toBeNull();
    });
  });

  describe('reuse after the grace window', () => {
    it('revokes the session, refuses its live access token and current refresh token, writes a token-free audit event and clears the cookies', async () => {
      const user = await h.newUser();
      const login = await h.loginForCookies(user.email);
      const r0 = cookieValue(login.refresh);

      clock += 1 * SECOND;
      const spent = await h.refreshWithCookie(r0);
      expect(spent.body.errors).toBeUndefined();
      // r0's successor is used in turn (by the thief or the victim): r0 is now two generations old.
      const rotated = await h.refreshWithCookie(cookieValue(setCookieFor(spent, REFRESH_COOKIE)));
      expect(rotated.body.errors).toBeUndefined();
      const accessCookie = cookiePair(setCookieFor(rotated, ACCESS_COOKIE));
      const a1 = cookieValue(setCookieFor(rotated, ACCESS_COOKIE));
      const r1 = cookieValue(setCookieFor(rotated, REFRESH_COOKIE));
      const sessionId = sessionIdOf(a1);
      expect((await h.gateway.request(MeDocument, {}, { cookie: accessCookie })).body.data?.me.email).toBe(user.email);

      clock += (h.gateway.config.tokens.refreshGraceSeconds + 1) * SECOND;
      const replay = await h.refreshWithCookie(r0);
      expectRefreshRefused(replay, ErrorCode.REFRESH_TOKEN_REUSED);
      expectCookiesCleared(replay);

      // The access token from the latest refresh has not expired, yet is refused at once.
      expect(decodeJwt(a1).exp! * 1000).toBeGreaterThan(clock);
      expectAccessRefused(await h.gateway.request(MeDocument, {}, { cookie: accessCookie }), TokenRejection.TOKEN_INVALID);
      expectAccessRefused(await h.me(a1), TokenRejection.TOKEN_INVALID);

      // The current refresh token (the thief's or the victim's, whoever holds it) is dead too.
      const current = await h.refreshWithCookie(r1);
      expectRefreshRefused(current, ErrorCode.REFRESH_TOKEN_INVALID);
      expectCookiesCleared(current);

      const session = await h.session(sessionId);
      expect(session?.revokedAt).not.toBeNull();
      expect(session?.revokedReason).toBe('refresh-token-reused');
      // Its refresh tokens go in the next batch of deletes; the refusals above did not wait for it.
      await h.gateway.app.database.flushDeletes();
      expect(await h.refreshTokens().countDocuments({ sessionId })).toBe(0);

      const events = await h.raw<RawAuditEvent>('audit_events').find({ sessionId }).toArray();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'refresh-token-reused', userId: user.id, sessionId });
      const serialized = JSON.stringify(events[0]);
      const r2 = h.keys.successor(r1);
      const between = cookieValue(setCookieFor(spent, REFRESH_COOKIE));
      for (const material of [r0, between, r1, r2, h.keys.hash(r0), h.keys.hash(between), h.keys.hash(r1), h.keys.hash(r2), a1, cookieValue(login.access)]) {
        expect(serialized).not.toContain(material);
      }
    });

    it('sets no cookie when the reused token came as an argument', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      await h.rotate((await h.rotate(login.refreshToken)).refreshToken);
      clock += (h.gateway.config.tokens.refreshGraceSeconds + 1) * SECOND;

      const replay = await h.refreshWithArgument(login.refreshToken);
      expectRefreshRefused(replay, ErrorCode.REFRESH_TOKEN_REUSED);
      expect(replay.setCookies).toEqual([]);
    });

    it('ends only the session whose token was reused, not the same user\'s other sessions', async () => {
      const { email } = await h.newUser();
      const victim = await h.loginForBody(email);
      const other = await h.loginForBody(email);
      await h.rotate((await h.rotate(victim.refreshToken)).refreshToken);
      clock += (h.gateway.config.tokens.refreshGraceSeconds + 1) * SECOND;

      expectRefreshRefused(await h.refreshWithArgument(victim.refreshToken), ErrorCode.REFRESH_TOKEN_REUSED);
      expect((await h.me(other.accessToken)).body.data?.me.email).toBe(email);
      await h.rotate(other.refreshToken);
    });
  });

  describe('tokens that are not live refresh tokens', () => {
    it('refuses a stored hash presented as a refresh token (REFRESH_TOKEN_INVALID) and leaves the session alone', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const [stored] = await h.refreshTokens().find({ sessionId: login.sessionId }).toArray();
      if (!stored) throw new Error('expected a stored record');
      expect(stored._id).not.toBe(login.refreshToken);
      // A stored hash has the very shape of a token: only the key makes it useless.
      expect(isWellFormedRefreshToken(stored._id)).toBe(true);

      expectRefreshRefused(await h.refreshWithArgument(stored._id), ErrorCode.REFRESH_TOKEN_INVALID);
      expectRefreshRefused(await h.refreshWithCookie(stored._id), ErrorCode.REFRESH_TOKEN_INVALID);
      // An unkeyed digest of the token is no better.
      expectRefreshRefused(
        await h.refreshWithArgument(createHash('sha256').update(login.refreshToken).digest('base64url')),
        ErrorCode.REFRESH_TOKEN_INVALID,
      );
      await h.rotate(login.refreshToken);
    });

    it.each([
      ['malformed (characters outside base64url)', (token: string) => `${token.slice(0, 42)}!`],
      ['truncated by one character', (token: string) => token.slice(0, 42)],
      ['extended by one character', (token: string) => `${token}A`],
      ['oversized (10 000 characters)', () => 'A'.repeat(10_000)],
      ['empty', () => ''],
      ['foreign (random, well-formed, never issued)', () => generateRefreshToken()],
      ['with surrounding whitespace', (token: string) => ` ${token} `],
    ])('refuses a refresh token that is %s (REFRESH_TOKEN_INVALID), and the genuine one still works', async (_name, mutate) => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const presented = mutate(login.refreshToken);
      expect(presented).not.toBe(login.refreshToken);

      const response = await h.refreshWithArgument(presented);
      expectRefreshRefused(response, ErrorCode.REFRESH_TOKEN_INVALID);
      expect(response.setCookies).toEqual([]);
      await h.rotate(login.refreshToken);
    });

    it("answers an empty refreshToken argument beside a live refresh cookie in the body, without clearing the browser's cookies", async () => {
      // An argument that is given decides the delivery (BODY), even when it is empty.
      const { email } = await h.newUser();
      const login = await h.loginForCookies(email);
      const response = await h.gateway.request(RefreshDocument, { refreshToken: '' }, { path: AUTH_PATH, cookie: cookiePair(login.refresh) });
      expectRefreshRefused(response, ErrorCode.REFRESH_TOKEN_INVALID);
      expect(response.setCookies).toEqual([]);
      // The cookie's token was neither used nor spent.
      expect(await h.record(h.keys.successor(cookieValue(login.refresh)))).toBeNull();
      expect((await h.refreshWithCookie(cookieValue(login.refresh))).body.errors).toBeUndefined();
    });

    it('refuses a refresh with neither a refresh cookie nor an argument (REFRESH_TOKEN_INVALID)', async () => {
      for (const path of [AUTH_PATH, '/graphql'] as const) {
        const response = await h.gateway.request(RefreshDocument, {}, { path });
        expectRefreshRefused(response, ErrorCode.REFRESH_TOKEN_INVALID);
      }
    });

    it('refuses an empty refresh cookie and clears the cookies (REFRESH_TOKEN_INVALID)', async () => {
      const response = await h.refreshWithCookie('');
      expectRefreshRefused(response, ErrorCode.REFRESH_TOKEN_INVALID);
      expectCookiesCleared(response);
    });

    it('refuses a refresh token sent as a Bearer access token (UNAUTHENTICATED, TOKEN_INVALID)', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      expectAccessRefused(await h.me(login.refreshToken), TokenRejection.TOKEN_INVALID);
      expectAccessRefused(await h.gateway.request(CurrentSessionDocument, {}, { cookie: `${ACCESS_COOKIE}=${login.refreshToken}` }), TokenRejection.TOKEN_INVALID);
    });

    it('refuses an access token sent as the refresh token, as argument or cookie (REFRESH_TOKEN_INVALID)', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      expectRefreshRefused(await h.refreshWithArgument(login.accessToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectRefreshRefused(await h.refreshWithCookie(login.accessToken), ErrorCode.REFRESH_TOKEN_INVALID);
      await h.rotate(login.refreshToken);
    });
  });

  describe('ended sessions and changed users', () => {
    it('refuses the refresh cookie after a cookie logout (REFRESH_TOKEN_INVALID)', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForCookies(email);
      const logout = await h.gateway.request(LogoutDocument, {}, { path: AUTH_PATH, cookie: `${cookiePair(login.access)}; ${cookiePair(login.refresh)}` });
      expect(logout.body.data?.logout).toBe(true);

      expectRefreshRefused(await h.refreshWithCookie(cookieValue(login.refresh)), ErrorCode.REFRESH_TOKEN_INVALID);
    });

    it('refuses the refresh token after a logout by refresh token alone (REFRESH_TOKEN_INVALID)', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const refreshed = await h.rotate(login.refreshToken);
      const logout = await h.gateway.request(LogoutDocument, { refreshToken: refreshed.refreshToken });
      expect(logout.body.data?.logout).toBe(true);

      expectRefreshRefused(await h.refreshWithArgument(refreshed.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectAccessRefused(await h.me(refreshed.accessToken), TokenRejection.TOKEN_INVALID);
      expect((await h.session(login.sessionId))?.revokedReason).toBe('logout');
    });

    it('refuses the refresh token of a session revoked in the database whose token records survived (REFRESH_TOKEN_INVALID)', async () => {
      // An interrupted revoke: the session is marked, deleting its tokens did not happen.
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      await h.raw<RawSession>('sessions').updateOne({ _id: login.sessionId }, { $set: { revokedAt: new Date(clock), revokedReason: 'logout' } });
      expect(await h.record(login.refreshToken)).not.toBeNull();

      expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      // The rotation's insert runs beside the session read, so a successor record may exist; it is unusable.
      expectRefreshRefused(await h.refreshWithArgument(h.keys.successor(login.refreshToken)), ErrorCode.REFRESH_TOKEN_INVALID);
    });

    it('refuses a refresh whose session is revoked while it is in flight, between the token lookup and the successor insert (REFRESH_TOKEN_INVALID)', async () => {
      // The real database throughout; the spy only makes a revocation land at the one moment that matters.
      const user = await h.newUser();
      const login = await h.loginForBody(user.email);
      const collection = h.gateway.app.database.connection.models['RefreshToken']!.collection;
      const insertOne = collection.insertOne.bind(collection);
      const spy = vi.spyOn(collection, 'insertOne').mockImplementationOnce(async (...args: Parameters<typeof insertOne>) => {
        expect(await h.gateway.app.auth.revokeUserSessions(user.id)).toBe(1);
        return insertOne(...args);
      });

      const response = await h.refreshWithArgument(login.refreshToken);
      expect(spy).toHaveBeenCalledTimes(1);
      expectRefreshRefused(response, ErrorCode.REFRESH_TOKEN_INVALID);
      expect((await h.session(login.sessionId))?.revokedReason).toBe('revoked-by-admin');
      expectRefreshRefused(await h.refreshWithArgument(h.keys.successor(login.refreshToken)), ErrorCode.REFRESH_TOKEN_INVALID);
    });

    it('refuses a refresh for a user deleted from the database (REFRESH_TOKEN_INVALID) and ends the session', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const deleted = await h.raw<{ email: string }>('users').deleteOne({ email });
      expect(deleted.deletedCount).toBe(1);

      expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expect((await h.session(login.sessionId))?.revokedReason).toBe('user-deleted');
      await h.gateway.app.database.flushDeletes();
      expect(await h.record(h.keys.successor(login.refreshToken))).toBeNull();
    });

    it('re-reads the roles at refresh: the refreshed access token carries roles changed in the database', async () => {
      const { email } = await h.newUser();
      const login = await h.loginForBody(email);
      const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });
      expect((await h.gateway.request(CurrentSessionDocument, {}, bearer(login.accessToken))).body.data?.currentSession.roles).toEqual(['USER']);

      await h.raw<{ email: string; roles: string[] }>('users').updateOne({ email }, { $set: { roles: ['USER', 'ADMIN'] } });
      const refreshed = await h.refreshWithArgument(login.refreshToken);
      expect(refreshed.body.errors).toBeUndefined();
      expect(refreshed.body.data?.refresh.user.roles).toEqual(['USER', 'ADMIN']);
      const { accessToken } = bodyTokens(refreshed);
      expect((await h.gateway.request(CurrentSessionDocument, {}, bearer(accessToken))).body.data?.currentSession.roles).toEqual(['USER', 'ADMIN']);
      // The old token keeps what it was issued with.
      expect((await h.gateway.request(CurrentSessionDocument, {}, bearer(login.accessToken))).body.data?.currentSession.roles).toEqual(['USER']);

      // And a role taken away is gone after the next refresh.
      await h.raw<{ email: string; roles: string[] }>('users').updateOne({ email }, { $set: { roles: ['USER'] } });
      const again = await h.rotate(bodyTokens(refreshed).refreshToken);
      expect((await h.gateway.request(CurrentSessionDocument, {}, bearer(again.accessToken))).body.data?.currentSession.roles).toEqual(['USER']);
    });
  });
});

describe('refresh with REFRESH_GRACE_SECONDS=0', () => {
  let h: Harness;

  beforeAll(async () => {
    h = new Harness(await startGateway({ config: testConfig({ REFRESH_GRACE_SECONDS: '0' }), app: { now: () => clock } }));
    expect(h.gateway.config.tokens.refreshGraceSeconds).toBe(0);
  });
  afterAll(async () => {
    await h?.gateway.stop();
  });

  it('treats the just-spent token presented again at the same instant as reuse (REFRESH_TOKEN_REUSED)', async () => {
    const { email } = await h.newUser();
    const login = await h.loginForBody(email);
    const first = await h.rotate(login.refreshToken);

    expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_REUSED);
    expectRefreshRefused(await h.refreshWithArgument(first.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
  });

  it('lets at most one of 20 concurrent refreshes succeed, refuses the rest as reuse or as an ended session, and ends the session', async () => {
    const { email } = await h.newUser();
    const login = await h.loginForBody(email);

    const responses = await Promise.all(Array.from({ length: 20 }, () => h.refreshWithArgument(login.refreshToken)));
    const winners = responses.filter((response) => response.body.errors === undefined);
    const losers = responses.filter((response) => response.body.errors !== undefined);
    // One insert wins. Its caller may still be refused if a loser's revocation lands before it answers, so the
    // guarantee is "never two", not "always one".
    expect(winners.length).toBeLessThanOrEqual(1);
    // A loser that looked the token up before the session was revoked sees reuse; one that looked it up after
    // sees an ended session (REFRESH_TOKEN_INVALID). Nothing else.
    for (const code of losers.map(errorCodeOf)) expect([ErrorCode.REFRESH_TOKEN_REUSED, ErrorCode.REFRESH_TOKEN_INVALID]).toContain(code);
    expect(losers.map(errorCodeOf)).toContain(ErrorCode.REFRESH_TOKEN_REUSED);
    expect((await h.session(login.sessionId))?.revokedReason).toBe('refresh-token-reused');

    for (const winner of winners.map(bodyTokens)) {
      expect(winner.refreshToken).toBe(h.keys.successor(login.refreshToken));
      expectRefreshRefused(await h.refreshWithArgument(winner.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
      expectAccessRefused(await h.me(winner.accessToken), TokenRejection.TOKEN_INVALID);
    }
  });
});

describe('refresh-token lifetimes', () => {
  // Idle 5 minutes, absolute 15 minutes, access tokens asked for 15 minutes: every access token issued after
  // login would outlive the session if its exp were not capped.
  const IDLE_S = 300;
  const ABSOLUTE_S = 900;
  let h: Harness;

  beforeAll(async () => {
    const config = testConfig({ REFRESH_TOKEN_TTL_SECONDS: String(IDLE_S), SESSION_MAX_AGE_SECONDS: String(ABSOLUTE_S), ACCESS_TOKEN_TTL_SECONDS: '900' });
    h = new Harness(await startGateway({ config, app: { now: () => clock } }));
  });
  afterAll(async () => {
    await h?.gateway.stop();
  });

  it('keeps a session alive by rotating every few minutes until its absolute end, never issuing an access token past it, then refuses (REFRESH_TOKEN_INVALID)', async () => {
    const { email } = await h.newUser();
    let tokens = await h.loginForBody(email);
    const sessionEnd = START_MS + ABSOLUTE_S * SECOND;

    for (const at of [240, 480, 720, ABSOLUTE_S - 1]) {
      clock = START_MS + at * SECOND;
      const response = await h.refreshWithArgument(tokens.refreshToken);
      expect(response.body.errors, `refresh at ${at}s`).toBeUndefined();
      tokens = bodyTokens(response);
      expect(new Date(tokens.accessTokenExpiresAt).getTime()).toBeLessThanOrEqual(sessionEnd);
      expect(decodeJwt(tokens.accessToken).exp! * SECOND).toBeLessThanOrEqual(sessionEnd);
      expect(new Date(tokens.refreshTokenExpiresAt).getTime()).toBeLessThanOrEqual(sessionEnd);
    }
    // Capped, not merely short: 900 s from 240 s would end at 1140 s.
    expect(new Date(tokens.accessTokenExpiresAt).getTime()).toBe(sessionEnd);

    clock = sessionEnd;
    expectRefreshRefused(await h.refreshWithArgument(tokens.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
    clock = sessionEnd + h.gateway.config.tokens.clockToleranceSeconds * SECOND;
    expectAccessRefused(await h.me(tokens.accessToken), TokenRejection.TOKEN_EXPIRED);
  });

  it('sets the refresh cookie Max-Age no later than the absolute end', async () => {
    const { email } = await h.newUser();
    const login = await h.loginForCookies(email);
    let refreshToken = cookieValue(login.refresh);
    let response: GraphQLResponse<RefreshMutation> | undefined;
    for (const at of [240, 480, 720]) {
      clock = START_MS + at * SECOND;
      response = await h.refreshWithCookie(refreshToken);
      expect(response.body.errors, `refresh at ${at}s`).toBeUndefined();
      refreshToken = cookieValue(setCookieFor(response, REFRESH_COOKIE));
    }
    if (!response) throw new Error('expected a refresh');
    // 720 s + the idle 300 s would be 1020 s; the session ends at 900 s.
    expect(cookieAttributes(setCookieFor(response, REFRESH_COOKIE))['max-age']).toBe(String(ABSOLUTE_S - 720));
    expect(cookieAttributes(setCookieFor(response, ACCESS_COOKIE))['max-age']).toBe(String(ABSOLUTE_S - 720));
  });

  it('refuses a token left unused for longer than REFRESH_TOKEN_TTL_SECONDS (REFRESH_TOKEN_INVALID)', async () => {
    const { email } = await h.newUser();
    const login = await h.loginForBody(email);
    expect(new Date(login.refreshTokenExpiresAt).getTime()).toBe(START_MS + IDLE_S * SECOND);

    clock = START_MS + IDLE_S * SECOND;
    expectRefreshRefused(await h.refreshWithArgument(login.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
  });

  it('moves the idle expiry forward at every rotation, so a rotated session outlives the first idle expiry', async () => {
    const { email } = await h.newUser();
    const login = await h.loginForBody(email);

    clock = START_MS + (IDLE_S - 1) * SECOND;
    const first = await h.rotate(login.refreshToken);
    expect(new Date(first.refreshTokenExpiresAt).getTime()).toBe(clock + IDLE_S * SECOND);
    expect(new Date(first.refreshTokenExpiresAt).getTime()).toBeGreaterThan(new Date(login.refreshTokenExpiresAt).getTime());

    // Past the login token's idle expiry, inside the rotated one's.
    clock = START_MS + (IDLE_S + 100) * SECOND;
    const second = await h.rotate(first.refreshToken);
    expect(new Date(second.refreshTokenExpiresAt).getTime()).toBeGreaterThan(new Date(first.refreshTokenExpiresAt).getTime());

    // Then idle for the whole TTL.
    clock = new Date(second.refreshTokenExpiresAt).getTime();
    expectRefreshRefused(await h.refreshWithArgument(second.refreshToken), ErrorCode.REFRESH_TOKEN_INVALID);
  });
});
