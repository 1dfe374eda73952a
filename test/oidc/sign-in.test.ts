import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_COOKIE } from '../../src/http/cookies.js';
import { MySignInMethodsDocument } from '../generated/operations.js';
import { HttpBrowser } from '../support/oidc-browser.js';
import { errorOf, sessionCookieHeader, startWithProviders, type Setup } from './support.js';

describe('sign-in through an OpenID Connect provider, by HTTP', () => {
  let setup: Setup;

  beforeAll(async () => {
    setup = await startWithProviders(['corp']);
  });
  afterAll(async () => {
    await setup?.stop();
  });

  it('creates an account at the first sign-in and answers me with login\'s cookies', async () => {
    const { gateway } = setup;
    const browser = new HttpBrowser();
    const { callbackUrl, authorizationUrl } = await browser.signInAtProvider(`${gateway.url}/auth/oidc/corp/start?returnTo=/welcome`, 'alice');
    const auth = new URL(authorizationUrl);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(auth.searchParams.get('state')).toBeTruthy();
    const back = await browser.visit(callbackUrl);
    expect(back.status).toBe(303);
    expect(back.location).toBe('/welcome');
    expect(browser.cookie(new URL(gateway.url).host, ACCESS_COOKIE)).toBeTruthy();
    const me = await gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(browser, gateway) });
    expect(me.body.errors).toBeUndefined();
    expect(me.body.data?.me.email).toBe('alice@corp.example');
    expect(me.body.data?.me.emailVerified).toBe(true);
    expect(me.body.data?.me.signInMethods).toEqual([expect.objectContaining({ kind: 'OIDC', provider: 'corp', email: 'alice@corp.example' })]);
    expect(errorOf(back.location)).toBeUndefined();
  });
});
