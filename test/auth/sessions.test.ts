import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Types, type mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { ACCESS_COOKIE, AUTH_PATH, REFRESH_COOKIE } from '../../src/http/cookies.js';
import {
  ChangePasswordDocument,
  CurrentSessionDocument,
  LoginDocument,
  LogoutEverywhereDocument,
  MeDocument,
  MySessionsDocument,
  RefreshDocument,
  RevokeOtherSessionsDocument,
  RevokeSessionDocument,
  RevokeUserSessionsDocument,
} from '../generated/operations.js';
import { cookieAttributes, cookiePair, startGateway, type GraphQLResponse, type RequestOptions, type TestGateway, rawCollection } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';

interface SignedIn {
  readonly sessionId: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly auth: RequestOptions;
}

const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

function expectCode(response: GraphQLResponse<unknown>, code: ErrorCode): void {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions?.['code']).toBe(code);
}

function expectRevoked(response: GraphQLResponse<unknown>): void {
  expect(response.body.data).toBeNull();
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
}

describe('managing sessions', () => {
  let gateway: TestGateway;

  // Ids of several kinds here (users have ObjectIds), so no _id type.
  const raw = (name: string) => rawCollection<mongo.Document>(gateway, name);

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  /** A user of the test's own, so session counts are not disturbed by other tests. */
  async function newUser(roles: Array<'USER' | 'ADMIN'> = []): Promise<{ id: string; email: string }> {
    return gateway.createUser({ email: `user-${randomBytes(4).toString('hex')}@example.com`, password: PASSWORD, roles });
  }

  async function signIn(email: string, options: { userAgent?: string; password?: string } = {}): Promise<SignedIn> {
    const response = await gateway.request(
      LoginDocument,
      { email, password: options.password ?? PASSWORD, delivery: 'BODY' },
      options.userAgent === undefined ? {} : { headers: { 'user-agent': options.userAgent } },
    );
    expect(response.body.errors).toBeUndefined();
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    const { sid } = decodeJwt(login.accessToken);
    if (typeof sid !== 'string') throw new Error('expected a sid');
    return { sessionId: sid, accessToken: login.accessToken, refreshToken: login.refreshToken, auth: bearer(login.accessToken) };
  }

  async function expectWorks(session: SignedIn, userId: string): Promise<void> {
    const me = await gateway.request(MeDocument, {}, session.auth);
    expect(me.body.errors).toBeUndefined();
    expect(me.body.data?.me.id).toBe(userId);
  }

  async function sessionIdsOf(session: SignedIn): Promise<string[]> {
    const response = await gateway.request(MySessionsDocument, {}, session.auth);
    expect(response.body.errors).toBeUndefined();
    return (response.body.data?.mySessions ?? []).map((listed) => listed.id);
  }

  async function expectRefreshRefused(session: SignedIn): Promise<void> {
    expectCode(await gateway.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH }), ErrorCode.REFRESH_TOKEN_INVALID);
  }

  describe('mySessions', () => {
    it('lists my live sessions oldest first, with their details and exactly one marked current', async () => {
      const ada = await newUser();
      const bob = await newUser();
      const first = await signIn(ada.email, { userAgent: 'Firefox/1 (test)' });
      const second = await signIn(ada.email, { userAgent: 'Safari/2 (test)' });
      const bobs = await signIn(bob.email, { userAgent: 'Bob/1' });

      const response = await gateway.request(MySessionsDocument, {}, second.auth);
      expect(response.body.errors).toBeUndefined();
      const sessions = response.body.data?.mySessions ?? [];
      expect(sessions.map((session) => [session.id, session.userAgent, session.current])).toEqual([
        [first.sessionId, 'Firefox/1 (test)', false],
        [second.sessionId, 'Safari/2 (test)', true],
      ]);
      const maxAgeMs = gateway.config.tokens.sessionMaxAgeSeconds * 1000;
      for (const session of sessions) {
        expect(session.clientAddress).toBe('127.0.0.0/24');
        const createdAt = new Date(session.createdAt).getTime();
        expect(Math.abs(createdAt - Date.now())).toBeLessThan(60_000);
        expect(new Date(session.lastUsedAt).getTime()).toBeGreaterThanOrEqual(createdAt);
        expect(new Date(session.expiresAt).getTime()).toBe(createdAt + maxAgeMs);
      }
      expect(sessions.map((session) => session.id)).not.toContain(bobs.sessionId);

      // The same list seen from the first session marks that one current instead.
      const fromFirst = await gateway.request(MySessionsDocument, {}, first.auth);
      expect(fromFirst.body.data?.mySessions.filter((session) => session.current).map((session) => session.id)).toEqual([first.sessionId]);

      // And Bob sees only his own.
      expect(await sessionIdsOf(bobs)).toEqual([bobs.sessionId]);
    });

    it('refuses a guest with UNAUTHENTICATED', async () => {
      expectCode(await gateway.request(MySessionsDocument, {}), ErrorCode.UNAUTHENTICATED);
    });
  });

  describe('revokeSession', () => {
    it('ends one of my sessions: its access token is refused and it leaves mySessions', async () => {
      const ada = await newUser();
      const keep = await signIn(ada.email);
      const end = await signIn(ada.email);

      const response = await gateway.request(RevokeSessionDocument, { id: end.sessionId }, keep.auth);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.revokeSession).toBe(true);

      expectRevoked(await gateway.request(MeDocument, {}, end.auth));
      await expectRefreshRefused(end);
      await expectWorks(keep, ada.id);
      expect(await sessionIdsOf(keep)).toEqual([keep.sessionId]);
    });

    it('ends the current session too when given its own id, and clears the cookies', async () => {
      const ada = await newUser();
      const login = await gateway.request(LoginDocument, { email: ada.email, password: PASSWORD });
      const cookie = cookiePair(login.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));
      const sid = decodeJwt(cookie.slice(`${ACCESS_COOKIE}=`.length))['sid'] as string;

      const response = await gateway.request(RevokeSessionDocument, { id: sid }, { cookie });
      expect(response.body.data?.revokeSession).toBe(true);
      for (const name of [ACCESS_COOKIE, REFRESH_COOKIE]) {
        const cleared = response.setCookies.find((line) => line.startsWith(`${name}=`));
        expect(cleared, name).toBeDefined();
        expect(cookieAttributes(cleared ?? '')['max-age']).toBe('0');
      }
      expectRevoked(await gateway.request(MeDocument, {}, { cookie }));
    });

    it("answers NOT_FOUND for another user's session and leaves it working", async () => {
      const ada = await newUser();
      const bob = await newUser();
      const mine = await signIn(ada.email);
      const bobs = await signIn(bob.email);

      expectCode(await gateway.request(RevokeSessionDocument, { id: bobs.sessionId }, mine.auth), ErrorCode.NOT_FOUND);
      await expectWorks(bobs, bob.id);
      expect(await sessionIdsOf(bobs)).toEqual([bobs.sessionId]);
      expect((await raw('sessions').findOne({ _id: bobs.sessionId as never }))?.['revokedAt']).toBeNull();
    });

    it('answers NOT_FOUND for an unknown id and for an already revoked one', async () => {
      const ada = await newUser();
      const mine = await signIn(ada.email);
      const other = await signIn(ada.email);

      expectCode(await gateway.request(RevokeSessionDocument, { id: 'no-such-session' }, mine.auth), ErrorCode.NOT_FOUND);
      expect((await gateway.request(RevokeSessionDocument, { id: other.sessionId }, mine.auth)).body.data?.revokeSession).toBe(true);
      expectCode(await gateway.request(RevokeSessionDocument, { id: other.sessionId }, mine.auth), ErrorCode.NOT_FOUND);
      await expectWorks(mine, ada.id);
    });
  });

  describe('revokeOtherSessions', () => {
    it('ends all my other sessions, returns their count, and keeps the current one working', async () => {
      const ada = await newUser();
      const bob = await newUser();
      const current = await signIn(ada.email);
      const others = [await signIn(ada.email), await signIn(ada.email)];
      const bobs = await signIn(bob.email);

      const response = await gateway.request(RevokeOtherSessionsDocument, {}, current.auth);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.revokeOtherSessions).toBe(2);

      for (const other of others) {
        expectRevoked(await gateway.request(MeDocument, {}, other.auth));
        await expectRefreshRefused(other);
      }
      await expectWorks(current, ada.id);
      expect(await sessionIdsOf(current)).toEqual([current.sessionId]);
      await expectWorks(bobs, bob.id);

      // Nothing left to end.
      expect((await gateway.request(RevokeOtherSessionsDocument, {}, current.auth)).body.data?.revokeOtherSessions).toBe(0);
    });

    // FerretDB 1.x's conditional updateOne is not atomic (both racers "modify"); the count comes from the
    // blocklist entry's unique insert instead, which has one winner on every server.
    it('never counts one session twice when two calls race', async () => {
      const ada = await newUser();
      const first = await signIn(ada.email);
      const second = await signIn(ada.email);
      const others = [await signIn(ada.email), await signIn(ada.email), await signIn(ada.email)];

      const answers = await Promise.all([first, second].map((caller) => gateway.request(RevokeOtherSessionsDocument, {}, caller.auth)));
      const counts = answers.map((answer) => answer.body.data?.revokeOtherSessions ?? Number.NaN);
      // Each of the five sessions but one caller's is ended by exactly one of the two calls (a caller may end the other).
      const ended = await raw('sessions').countDocuments({ userId: ada.id, revokedAt: { $ne: null } });
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(ended);
      expect(ended).toBeGreaterThanOrEqual(others.length);
      for (const other of others) expectRevoked(await gateway.request(MeDocument, {}, other.auth));
    });
  });

  describe('logoutEverywhere', () => {
    it('ends every session of mine including the current one, returns the count and clears the cookies', async () => {
      const ada = await newUser();
      const login = await gateway.request(LoginDocument, { email: ada.email, password: PASSWORD });
      const accessCookie = cookiePair(login.setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`)));
      const refreshCookie = cookiePair(login.setCookies.find((line) => line.startsWith(`${REFRESH_COOKIE}=`)));
      const other = await signIn(ada.email);

      const response = await gateway.request(LogoutEverywhereDocument, {}, { cookie: accessCookie });
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.logoutEverywhere).toBe(2);
      for (const name of [ACCESS_COOKIE, REFRESH_COOKIE]) {
        const cleared = response.setCookies.find((line) => line.startsWith(`${name}=`));
        expect(cleared, name).toBeDefined();
        expect(cookiePair(cleared)).toBe(`${name}=`);
        expect(cookieAttributes(cleared ?? '')['max-age']).toBe('0');
      }

      expectRevoked(await gateway.request(MeDocument, {}, { cookie: accessCookie }));
      expectRevoked(await gateway.request(MeDocument, {}, other.auth));
      expectCode(await gateway.request(RefreshDocument, {}, { path: AUTH_PATH, cookie: refreshCookie }), ErrorCode.REFRESH_TOKEN_INVALID);
      await expectRefreshRefused(other);
      expect(await raw('sessions').countDocuments({ userId: ada.id, revokedAt: null })).toBe(0);
    });
  });

  describe('revokeUserSessions', () => {
    it('answers FORBIDDEN to a non-admin and leaves the target sessions working', async () => {
      const ada = await newUser();
      const bob = await newUser();
      const mine = await signIn(ada.email);
      const bobs = await signIn(bob.email);

      expectCode(await gateway.request(RevokeUserSessionsDocument, { userId: bob.id }, mine.auth), ErrorCode.FORBIDDEN);
      await expectWorks(bobs, bob.id);
      expect(await sessionIdsOf(bobs)).toEqual([bobs.sessionId]);
    });

    it("lets an admin end every session of a user and returns the count, leaving the admin's own", async () => {
      const root = await newUser(['ADMIN']);
      const bob = await newUser();
      const admin = await signIn(root.email);
      const bobs = [await signIn(bob.email), await signIn(bob.email)];

      const response = await gateway.request(RevokeUserSessionsDocument, { userId: bob.id }, admin.auth);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.revokeUserSessions).toBe(2);

      for (const session of bobs) {
        expectRevoked(await gateway.request(MeDocument, {}, session.auth));
        await expectRefreshRefused(session);
      }
      await expectWorks(admin, root.id);
      expect(await raw('sessions').countDocuments({ userId: bob.id, revokedAt: null })).toBe(0);
      expect((await gateway.request(RevokeUserSessionsDocument, { userId: bob.id }, admin.auth)).body.data?.revokeUserSessions).toBe(0);
    });
  });

  describe('changePassword', () => {
    async function passwordChangedAt(userId: string): Promise<Date> {
      const user = await raw('users').findOne({ _id: new Types.ObjectId(userId) });
      if (!(user?.['passwordChangedAt'] instanceof Date)) throw new Error('expected passwordChangedAt');
      return user['passwordChangedAt'];
    }

    it('answers INVALID_CREDENTIALS to a wrong current password and changes nothing', async () => {
      const ada = await newUser();
      const current = await signIn(ada.email);
      const other = await signIn(ada.email);
      const before = await passwordChangedAt(ada.id);

      const response = await gateway.request(ChangePasswordDocument, { currentPassword: 'not the password at all', newPassword: NEW_PASSWORD }, current.auth);
      expectCode(response, ErrorCode.INVALID_CREDENTIALS);

      await expectWorks(other, ada.id);
      await expectWorks(current, ada.id);
      expect((await passwordChangedAt(ada.id)).getTime()).toBe(before.getTime());
      await signIn(ada.email);
      expectCode(await gateway.request(LoginDocument, { email: ada.email, password: NEW_PASSWORD, delivery: 'BODY' }), ErrorCode.INVALID_CREDENTIALS);
    });

    it('answers BAD_USER_INPUT to a new password that is too short and changes nothing', async () => {
      const ada = await newUser();
      const current = await signIn(ada.email);
      const other = await signIn(ada.email);
      const before = await passwordChangedAt(ada.id);

      const response = await gateway.request(ChangePasswordDocument, { currentPassword: PASSWORD, newPassword: 'short' }, current.auth);
      expectCode(response, ErrorCode.BAD_USER_INPUT);

      await expectWorks(other, ada.id);
      expect((await passwordChangedAt(ada.id)).getTime()).toBe(before.getTime());
      expectCode(await gateway.request(LoginDocument, { email: ada.email, password: 'short', delivery: 'BODY' }), ErrorCode.INVALID_CREDENTIALS);
      await signIn(ada.email);
    });

    it('changes the password, ends the other sessions, returns their count and keeps the current one', async () => {
      const ada = await newUser();
      const current = await signIn(ada.email);
      const others = [await signIn(ada.email), await signIn(ada.email)];
      const before = await passwordChangedAt(ada.id);

      const response = await gateway.request(ChangePasswordDocument, { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, current.auth);
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.changePassword).toBe(2);

      for (const other of others) {
        expectRevoked(await gateway.request(MeDocument, {}, other.auth));
        await expectRefreshRefused(other);
      }
      await expectWorks(current, ada.id);
      expect((await gateway.request(CurrentSessionDocument, {}, current.auth)).body.data?.currentSession.id).toBe(current.sessionId);
      expect(await sessionIdsOf(current)).toEqual([current.sessionId]);

      expectCode(await gateway.request(LoginDocument, { email: ada.email, password: PASSWORD, delivery: 'BODY' }), ErrorCode.INVALID_CREDENTIALS);
      await signIn(ada.email, { password: NEW_PASSWORD });
      expect((await passwordChangedAt(ada.id)).getTime()).toBeGreaterThan(before.getTime());
    });
  });
});
