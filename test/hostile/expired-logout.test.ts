import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { LoginDocument, LogoutDocument, MeDocument, RefreshDocument } from '../generated/operations.js';
import { startGateway, type RequestOptions, type TestGateway } from '../support/gateway.js';
import { PASSWORD } from './support.js';

interface SignedIn {
  readonly sessionId: string;
  readonly accessToken: string;
  readonly refreshToken: string;
}

const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

/** The same token with one character of its signature changed: same claims, not ours. */
function tampered(token: string): string {
  const last = token.at(-2) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -2)}${last}${token.at(-1)}`;
}

/**
 * `logout` at /graphql, where the refresh cookie never travels, with an access token that has expired: a tab
 * left open past the token's life. The token's signature still proves which session it belongs to.
 */
describe('logout with an expired access token', () => {
  let gateway: TestGateway;
  let later = 0;
  let email: string;

  beforeAll(async () => {
    gateway = await startGateway({ app: { now: () => Date.now() + later } });
    email = (await gateway.createUser({ email: 'expired@example.com', password: PASSWORD })).email;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  async function signIn(): Promise<SignedIn> {
    later = 0;
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    return { sessionId: decodeJwt(login.accessToken)['sid'] as string, accessToken: login.accessToken, refreshToken: login.refreshToken };
  }

  /** Past the access token's expiry and the clock tolerance; well within the refresh token's life. */
  function expire(): void {
    const { accessTokenTtlSeconds, clockToleranceSeconds } = gateway.config.tokens;
    later = (accessTokenTtlSeconds + clockToleranceSeconds + 60) * 1000;
  }

  it('ends the session the genuine token names: its refresh token no longer refreshes', async () => {
    const session = await signIn();
    expire();
    expect((await gateway.request(MeDocument, {}, bearer(session.accessToken))).body.errors?.[0]?.extensions).toEqual({
      code: ErrorCode.UNAUTHENTICATED,
      reason: TokenRejection.TOKEN_EXPIRED,
    });

    const logout = await gateway.request(LogoutDocument, {}, bearer(session.accessToken));
    expect(logout.body.errors).toBeUndefined();
    expect(logout.body.data?.logout).toBe(true);

    const refresh = await gateway.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH });
    expect(refresh.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.REFRESH_TOKEN_INVALID);
  });

  it('ends nothing for an expired token whose signature is not ours (control: the session still refreshes)', async () => {
    const session = await signIn();
    expire();
    const logout = await gateway.request(LogoutDocument, {}, bearer(tampered(session.accessToken)));
    expect(logout.body.data?.logout).toBe(true);

    const refresh = await gateway.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH });
    expect(refresh.body.errors).toBeUndefined();
    expect(refresh.body.data?.refresh.refreshToken).toEqual(expect.any(String));
  });
});
