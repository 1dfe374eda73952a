import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import {
  LoginDocument,
  LogoutEverywhereDocument,
  MeDocument,
  RefreshDocument,
  RevokeOtherSessionsDocument,
  RevokeSessionDocument,
  RevokeUserSessionsDocument,
} from '../generated/operations.js';
import { startGateway, type GraphQLResponse, type RequestOptions, type TestGateway, rawCollection } from '../support/gateway.js';
import { PASSWORD } from './support.js';

interface SignedIn {
  readonly sessionId: string;
  readonly refreshToken: string;
  readonly auth: RequestOptions;
}

function expectCode(response: GraphQLResponse<unknown>, code: ErrorCode): void {
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors?.[0]?.extensions?.['code']).toBe(code);
}

function expectRevoked(response: GraphQLResponse<unknown>): void {
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
}

/**
 * A revoke that stopped after its first write (the database went away between two commands): the session is
 * marked revoked, but there is no blocklist entry and its refresh tokens are still stored. Every path that
 * meets such a session must finish the revoke, not only logout.
 */
describe('a revoke that failed halfway', () => {
  let gateway: TestGateway;
  let counter = 0;

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const raw = (name: string) => rawCollection(gateway, name);

  async function newUser(roles: Array<'USER' | 'ADMIN'> = []): Promise<{ id: string; email: string }> {
    counter++;
    return gateway.createUser({ email: `half-${counter}@example.com`, password: PASSWORD, roles });
  }

  async function signIn(email: string): Promise<SignedIn> {
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    return { sessionId: decodeJwt(login.accessToken)['sid'] as string, refreshToken: login.refreshToken, auth: { headers: { authorization: `Bearer ${login.accessToken}` } } };
  }

  /** Leaves `session` as a revoke that failed after marking it: marked, no entry, tokens kept. */
  async function halfRevoke(session: SignedIn): Promise<void> {
    await raw('sessions').updateOne({ _id: session.sessionId }, { $set: { revokedAt: new Date(), revokedReason: 'logout' } });
    // The state the fix must repair: the access token still works, the refresh token record is still there.
    expect((await gateway.request(MeDocument, {}, session.auth)).body.errors, 'half-done: the access token still works').toBeUndefined();
    expect(await raw('refresh_tokens').countDocuments({ sessionId: session.sessionId })).toBeGreaterThan(0);
  }

  async function expectFinished(session: SignedIn): Promise<void> {
    expectRevoked(await gateway.request(MeDocument, {}, session.auth));
    await gateway.app.database.flushDeletes();
    expect(await raw('refresh_tokens').countDocuments({ sessionId: session.sessionId })).toBe(0);
  }

  it('is finished by revokeSession naming it, which still answers NOT_FOUND for a session that is not live', async () => {
    const user = await newUser();
    const victim = await signIn(user.email);
    const caller = await signIn(user.email);
    await halfRevoke(victim);

    expectCode(await gateway.request(RevokeSessionDocument, { id: victim.sessionId }, caller.auth), ErrorCode.NOT_FOUND);
    await expectFinished(victim);
  });

  it('is finished by a refresh with its refresh token (the path reuse detection takes too), which is refused', async () => {
    const user = await newUser();
    const victim = await signIn(user.email);
    await halfRevoke(victim);

    expectCode(await gateway.request(RefreshDocument, { refreshToken: victim.refreshToken }, { path: AUTH_PATH }), ErrorCode.REFRESH_TOKEN_INVALID);
    await expectFinished(victim);
  });

  it('is finished by logoutEverywhere', async () => {
    const user = await newUser();
    const victim = await signIn(user.email);
    const caller = await signIn(user.email);
    await halfRevoke(victim);

    expect((await gateway.request(LogoutEverywhereDocument, {}, caller.auth)).body.errors).toBeUndefined();
    expectRevoked(await gateway.request(MeDocument, {}, victim.auth));
  });

  it('is finished by revokeOtherSessions, which leaves the caller working', async () => {
    const user = await newUser();
    const victim = await signIn(user.email);
    const caller = await signIn(user.email);
    await halfRevoke(victim);

    expect((await gateway.request(RevokeOtherSessionsDocument, {}, caller.auth)).body.errors).toBeUndefined();
    expectRevoked(await gateway.request(MeDocument, {}, victim.auth));
    expect((await gateway.request(MeDocument, {}, caller.auth)).body.data?.me.id).toBe(user.id);
  });

  it("is finished by an administrator's revokeUserSessions", async () => {
    const admin = await signIn((await newUser(['ADMIN'])).email);
    const user = await newUser();
    const victim = await signIn(user.email);
    await halfRevoke(victim);

    expect((await gateway.request(RevokeUserSessionsDocument, { userId: user.id }, admin.auth)).body.errors).toBeUndefined();
    expectRevoked(await gateway.request(MeDocument, {}, victim.auth));
  });
});
