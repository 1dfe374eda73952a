import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { ACCESS_COOKIE } from '../../src/http/cookies.js';
import { OIDC_FLOW_COOKIE } from '../../src/http/oidc-routes.js';
import { createLogger } from '../../src/logger.js';
import { LoginDocument, MySignInMethodsDocument, SignInProvidersDocument, UnlinkSignInProviderDocument } from '../generated/operations.js';
import { countingHasher } from '../support/counting-hasher.js';
import { rawCollection } from '../support/gateway.js';
import { HttpBrowser } from '../support/oidc-browser.js';
import { errorOf, flowIdOf, sessionCookieHeader, startWithProviders, type Setup } from './support.js';

const PASSWORD = 'correct horse battery staple';

describe('sign-in through OpenID Connect providers, by HTTP against real oidc-provider processes', () => {
  let setup: Setup;
  const logLines: string[] = [];
  const hasher = countingHasher();
  // The gateway's clock, moved forward by a test instead of sleeping (the provider keeps real time).
  let clockOffset = 0;

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    // corp is not trusted for email; partner is (it owns the mail it asserts).
    setup = await startWithProviders(
      ['corp', 'partner'],
      { OIDC_PARTNER_TRUSTED_EMAIL: 'true', OIDC_PARTNER_LABEL: 'Partner SSO', ALLOWED_ORIGINS: 'https://app.example' },
      { logger: createLogger('info', { stream }), hasher, now: () => Date.now() + clockOffset },
    );
    for (const email of ['ada@example.com', 'grace@example.com', 'linus@example.com']) await setup.gateway.createUser({ email, password: PASSWORD });
  });
  afterAll(async () => {
    await setup?.stop();
  });

  const host = (): string => new URL(setup.gateway.url).host;
  const start = (provider: string, query = ''): string => `${setup.gateway.url}/auth/oidc/${provider}/start${query}`;

  async function signIn(provider: string, account: string, query = ''): Promise<{ browser: HttpBrowser; location: string }> {
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(start(provider, query), account);
    const back = await browser.visit(callbackUrl);
    expect(back.status).toBe(303);
    return { browser, location: back.location };
  }

  async function methodsOf(browser: HttpBrowser): Promise<Array<{ kind: string; provider?: string | null }>> {
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(browser, setup.gateway) });
    expect(me.body.errors).toBeUndefined();
    return me.body.data?.me.signInMethods ?? [];
  }

  async function passwordBrowser(email: string): Promise<HttpBrowser> {
    const login = await setup.gateway.request(LoginDocument, { email, password: PASSWORD });
    expect(login.body.errors).toBeUndefined();
    const browser = new HttpBrowser();
    for (const line of login.setCookies) {
      const [pair = ''] = line.split(';');
      const equals = pair.indexOf('=');
      browser.setCookie(host(), pair.slice(0, equals), pair.slice(equals + 1));
    }
    return browser;
  }

  it('lists the providers for drawing buttons, without signing in', async () => {
    const response = await setup.gateway.request(SignInProvidersDocument, {});
    expect(response.body.data?.signInProviders).toEqual([
      { name: 'corp', label: 'Corp', startUrl: `${setup.gateway.url}/auth/oidc/corp/start` },
      { name: 'partner', label: 'Partner SSO', startUrl: `${setup.gateway.url}/auth/oidc/partner/start` },
    ]);
  });

  it('sends PKCE (S256), state and nonce, creates an account at the first sign-in, and answers me with login\'s cookies', async () => {
    const browser = new HttpBrowser();
    const { callbackUrl, authorizationUrl } = await browser.signInAtProvider(start('corp', '?returnTo=/welcome'), 'alice');
    const auth = new URL(authorizationUrl);
    expect(auth.origin).toBe(setup.providers['corp']?.url);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(auth.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(auth.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(auth.searchParams.get('redirect_uri')).toBe(`${setup.gateway.url}/auth/oidc/corp/callback`);
    const back = await browser.visit(callbackUrl);
    expect(back).toEqual({ status: 303, location: '/welcome' });
    expect(browser.cookie(host(), OIDC_FLOW_COOKIE)).toBeUndefined();
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(browser, setup.gateway) });
    expect(me.body.data?.me).toMatchObject({ email: 'alice@corp.example', emailVerified: true });
    expect(me.body.data?.me.signInMethods).toEqual([expect.objectContaining({ kind: 'OIDC', provider: 'corp', email: 'alice@corp.example' })]);

    // The same identity again: the same account, a second session.
    const again = await signIn('corp', 'alice');
    const second = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(again.browser, setup.gateway) });
    expect(second.body.data?.me.id).toBe(me.body.data?.me.id);
    const events = await rawCollection(setup.gateway, 'audit_events').find({ userId: me.body.data?.me.id }).toArray();
    expect(events.map((event) => event['type'])).toEqual(expect.arrayContaining(['oidc-sign-up', 'oidc-linked', 'oidc-sign-in']));
    expect(events.filter((event) => event['type'] === 'oidc-sign-in').every((event) => String(event['detail']).includes('corp'))).toBe(true);
  });

  it('refuses password login to an account created through a provider, taking the dummy hash like an unknown email', async () => {
    hasher.reset();
    const response = await setup.gateway.request(LoginDocument, { email: 'alice@corp.example', password: 'whatever it may be' });
    expect(response.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(hasher.calls).toMatchObject({ verify: 0, verifyNothing: 1 });
  });

  it('checks the PKCE verifier: a flow whose stored verifier was changed gets no session', async () => {
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(start('corp'), 'alice');
    await rawCollection(setup.gateway, 'oidc_flows').updateOne({ _id: flowIdOf(browser, setup.gateway) }, { $set: { codeVerifier: 'x'.repeat(43) } });
    const back = await browser.visit(callbackUrl);
    expect(errorOf(back.location)).toBe(ErrorCode.OIDC_PROVIDER_ERROR);
    expect(browser.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('checks the nonce: an ID token whose nonce is not the flow\'s gets no session', async () => {
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(start('corp'), 'alice');
    await rawCollection(setup.gateway, 'oidc_flows').updateOne({ _id: flowIdOf(browser, setup.gateway) }, { $set: { nonce: 'another-nonce-value-entirely' } });
    const back = await browser.visit(callbackUrl);
    expect(errorOf(back.location)).toBe(ErrorCode.OIDC_PROVIDER_ERROR);
    expect(browser.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('refuses a tampered state, a replayed callback, and a callback from a browser that did not start the flow', async () => {
    const tampered = new HttpBrowser();
    const first = await tampered.signInAtProvider(start('corp'), 'alice');
    const url = new URL(first.callbackUrl);
    url.searchParams.set('state', `${url.searchParams.get('state')}x`);
    expect(errorOf((await tampered.visit(url.href)).location)).toBe(ErrorCode.OIDC_STATE_INVALID);
    expect(tampered.cookie(host(), ACCESS_COOKIE)).toBeUndefined();

    const replayed = new HttpBrowser();
    const second = await replayed.signInAtProvider(start('corp'), 'alice');
    const flowCookie = replayed.cookie(host(), OIDC_FLOW_COOKIE);
    expect(errorOf((await replayed.visit(second.callbackUrl)).location)).toBeUndefined();
    // The same callback again, the flow cookie put back as an attacker who copied it would.
    replayed.setCookie(host(), OIDC_FLOW_COOKIE, flowCookie);
    replayed.setCookie(host(), ACCESS_COOKIE, undefined);
    expect(errorOf((await replayed.visit(second.callbackUrl)).location)).toBe(ErrorCode.OIDC_STATE_INVALID);
    expect(replayed.cookie(host(), ACCESS_COOKIE)).toBeUndefined();

    // Login CSRF: the victim's browser gets the attacker's callback URL, without the attacker's flow cookie.
    const attacker = new HttpBrowser();
    const third = await attacker.signInAtProvider(start('corp'), 'mallory');
    const victim = new HttpBrowser();
    expect(errorOf((await victim.visit(third.callbackUrl)).location)).toBe(ErrorCode.OIDC_STATE_INVALID);
    expect(victim.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('lets exactly one of several concurrent callbacks with one flow sign in', async () => {
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(start('corp'), 'alice');
    const cookie = browser.cookieHeader(setup.gateway.url);
    const answers = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const response = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } });
        return { location: response.headers.get('location') ?? '', signedIn: response.headers.getSetCookie().some((line) => line.startsWith(`${ACCESS_COOKIE}=`)) };
      }),
    );
    expect(answers.filter((answer) => answer.signedIn)).toHaveLength(1);
    expect(answers.filter((answer) => errorOf(answer.location) === ErrorCode.OIDC_STATE_INVALID)).toHaveLength(5);
  });

  it('refuses the issuer mix-up: a code from one provider at the other one\'s callback', async () => {
    const browser = new HttpBrowser();
    const fromCorp = await browser.signInAtProvider(start('corp'), 'alice');
    const atPartner = new URL(fromCorp.callbackUrl);
    atPartner.pathname = '/auth/oidc/partner/callback';
    expect(errorOf((await browser.visit(atPartner.href)).location)).toBe(ErrorCode.OIDC_STATE_INVALID);

    // A flow started at partner, answered with corp's code and issuer under partner's own state (what a
    // malicious provider that saw the state could send): the iss parameter (RFC 9207) gives it away.
    const mixed = new HttpBrowser();
    const corpAnswer = new URL((await mixed.signInAtProvider(start('corp'), 'alice')).callbackUrl);
    const partnerStart = await mixed.request(start('partner'));
    const partnerState = new URL(partnerStart.headers.get('location') ?? '').searchParams.get('state') ?? '';
    const forged = new URL(`${setup.gateway.url}/auth/oidc/partner/callback`);
    forged.search = new URLSearchParams({ code: corpAnswer.searchParams.get('code') ?? '', state: partnerState, iss: corpAnswer.searchParams.get('iss') ?? '' }).toString();
    expect(errorOf((await mixed.visit(forged.href)).location)).toBe(ErrorCode.OIDC_PROVIDER_ERROR);
    expect(mixed.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('never merges by an email from an untrusted provider, and links through ?link=1 after a recent sign-in', async () => {
    const refused = await signIn('corp', 'ada');
    expect(errorOf(refused.location)).toBe(ErrorCode.OIDC_ACCOUNT_EXISTS);
    expect(refused.browser.cookie(host(), ACCESS_COOKIE)).toBeUndefined();

    const ada = await passwordBrowser('ada@example.com');
    const { callbackUrl } = await ada.signInAtProvider(start('corp', '?link=1&returnTo=/settings'), 'ada');
    expect(await ada.visit(callbackUrl)).toEqual({ status: 303, location: '/settings' });
    expect(await methodsOf(ada)).toEqual([expect.objectContaining({ kind: 'PASSWORD' }), expect.objectContaining({ kind: 'OIDC', provider: 'corp' })]);

    // From now on the provider signs Ada into her own account.
    const viaCorp = await signIn('corp', 'ada');
    expect(errorOf(viaCorp.location)).toBeUndefined();
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(viaCorp.browser, setup.gateway) });
    expect(me.body.data?.me.email).toBe('ada@example.com');
  });

  it('links by a verified email at a trusted provider, but not by an unverified one', async () => {
    const grace = await signIn('partner', 'grace');
    expect(errorOf(grace.location)).toBeUndefined();
    expect(await methodsOf(grace.browser)).toEqual([expect.objectContaining({ kind: 'PASSWORD' }), expect.objectContaining({ kind: 'OIDC', provider: 'partner' })]);

    const linus = await signIn('partner', 'unverified');
    expect(errorOf(linus.location)).toBe(ErrorCode.OIDC_EMAIL_UNVERIFIED);
    expect(linus.browser.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('creates an account with email_verified false as unverified', async () => {
    const newcomer = await signIn('corp', 'newcomer');
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(newcomer.browser, setup.gateway) });
    expect(me.body.data?.me).toMatchObject({ email: 'newcomer@corp.example', emailVerified: false });
  });

  it('refuses a provider identity without an email to create an account', async () => {
    const anonymous = await signIn('corp', 'anonymous');
    expect(errorOf(anonymous.location)).toBe(ErrorCode.OIDC_EMAIL_UNVERIFIED);
  });

  it('never moves a pair linked to another account', async () => {
    const mallory = await signIn('corp', 'mallory');
    expect(errorOf(mallory.location)).toBeUndefined();
    const ada = await passwordBrowser('ada@example.com');
    const { callbackUrl } = await ada.signInAtProvider(start('corp', '?link=1'), 'mallory');
    expect(errorOf((await ada.visit(callbackUrl)).location)).toBe(ErrorCode.OIDC_ACCOUNT_EXISTS);
    const again = await signIn('corp', 'mallory');
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(again.browser, setup.gateway) });
    expect(me.body.data?.me.email).toBe('mallory@corp.example');
  });

  it('links only within 10 minutes of a sign-in, and only when signed in', async () => {
    const guest = new HttpBrowser();
    expect(errorOf((await guest.visit(start('corp', '?link=1'))).location)).toBe(ErrorCode.UNAUTHENTICATED);

    const linus = await passwordBrowser('linus@example.com');
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(linus, setup.gateway) });
    expect(me.body.data?.me.email).toBe('linus@example.com');
    // 11 minutes later the access token still verifies (15 minutes), but its sign-in (auth_time) is too old.
    clockOffset = 11 * 60_000;
    const stale = await linus.visit(start('corp', '?link=1&returnTo=/settings')).finally(() => {
      clockOffset = 0;
    });
    expect(stale).toEqual({ status: 303, location: `/settings#error=${ErrorCode.REAUTHENTICATION_REQUIRED}` });
  });

  it('refuses ?link=1 started by a page of another site, and accepts it from an allowed origin', async () => {
    const grace = await passwordBrowser('grace@example.com');
    const from = async (headers: Record<string, string>): Promise<{ status: number; location: string }> => {
      const response = await fetch(start('corp', '?link=1'), { redirect: 'manual', headers: { cookie: grace.cookieHeader(setup.gateway.url), ...headers } });
      return { status: response.status, location: response.headers.get('location') ?? '' };
    };
    expect(await from({ 'sec-fetch-site': 'cross-site', referer: 'https://evil.example/' })).toEqual({ status: 303, location: `/#error=${ErrorCode.CSRF_REJECTED}` });
    expect(await from({ 'sec-fetch-site': 'cross-site' })).toEqual({ status: 303, location: `/#error=${ErrorCode.CSRF_REJECTED}` });
    expect((await from({ 'sec-fetch-site': 'cross-site', referer: 'https://app.example/settings' })).status).toBe(302);
    expect((await from({ 'sec-fetch-site': 'same-origin' })).status).toBe(302);
  });

  it('sends the browser back only to its own origin or an allowed one', async () => {
    const cases: Array<[string, string]> = [
      ['//evil.example', '/'],
      ['https://evil.example', '/'],
      ['/\\evil.example', '/'],
      ['/%5Cevil.example', '/%5Cevil.example'],
      ['javascript:alert(1)', '/'],
      ['https://app.example/after?x=1', 'https://app.example/after?x=1'],
      ['/account?tab=2', '/account?tab=2'],
    ];
    for (const [returnTo, expected] of cases) {
      const browser = new HttpBrowser();
      const started = await browser.request(start('corp', `?returnTo=${encodeURIComponent(returnTo)}`));
      const state = new URL(started.headers.get('location') ?? '').searchParams.get('state') ?? '';
      // The provider's answer when the person declines.
      const back = await browser.visit(`${setup.gateway.url}/auth/oidc/corp/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(setup.providers['corp']?.url ?? '')}`);
      expect(back.location, returnTo).toBe(`${expected}#error=${ErrorCode.OIDC_PROVIDER_ERROR}`);
    }
  });

  it('refuses a disabled account without setting any cookie', async () => {
    const first = await signIn('corp', 'disabled');
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(first.browser, setup.gateway) });
    await setup.gateway.app.auth.disableUser({ kind: 'cli' }, me.body.data?.me.id ?? '');
    const again = await signIn('corp', 'disabled');
    expect(errorOf(again.location)).toBe(ErrorCode.ACCOUNT_DISABLED);
    expect(again.browser.cookie(host(), ACCESS_COOKIE)).toBeUndefined();
  });

  it('never unlinks the last way in, and unlinks a provider beside a password', async () => {
    const alice = await signIn('corp', 'alice');
    const refused = await setup.gateway.request(UnlinkSignInProviderDocument, { provider: 'corp' }, { cookie: sessionCookieHeader(alice.browser, setup.gateway) });
    expect(refused.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.LAST_SIGN_IN_METHOD);
    expect(await methodsOf(alice.browser)).toHaveLength(1);

    const grace = await passwordBrowser('grace@example.com');
    const unlinked = await setup.gateway.request(UnlinkSignInProviderDocument, { provider: 'partner' }, { cookie: sessionCookieHeader(grace, setup.gateway) });
    expect(unlinked.body.errors).toBeUndefined();
    expect(await methodsOf(grace)).toEqual([expect.objectContaining({ kind: 'PASSWORD' })]);
    const missing = await setup.gateway.request(UnlinkSignInProviderDocument, { provider: 'partner' }, { cookie: sessionCookieHeader(grace, setup.gateway) });
    expect(missing.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.NOT_FOUND);
    const me = await setup.gateway.request(MySignInMethodsDocument, {}, { cookie: sessionCookieHeader(grace, setup.gateway) });
    const events = await rawCollection(setup.gateway, 'audit_events').find({ userId: me.body.data?.me.id, type: 'oidc-unlinked' }).toArray();
    expect(events.map((event) => event['detail'])).toEqual(['partner unlinked']);
  });

  it('answers 404 for a provider that is not configured', async () => {
    const response = await fetch(start('nobody'), { redirect: 'manual' });
    expect(response.status).toBe(404);
  });

  it('logs no code, state, nonce, verifier or client secret', async () => {
    const browser = new HttpBrowser();
    const { callbackUrl, authorizationUrl } = await browser.signInAtProvider(start('corp'), 'alice');
    await browser.visit(callbackUrl);
    const callback = new URL(callbackUrl);
    const auth = new URL(authorizationUrl);
    const log = logLines.join('');
    expect(log).toContain('signed in through an OIDC provider');
    for (const value of [callback.searchParams.get('code'), auth.searchParams.get('state'), auth.searchParams.get('nonce'), 'corp-secret-value', 'partner-secret-value']) {
      expect(value).toBeTruthy();
      expect(log).not.toContain(value);
    }
  });
});
