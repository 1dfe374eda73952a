/**
 * The example web app (examples/web-app) as a person uses it, in headless Chromium: served from its own origin
 * (http://127.0.0.1:<app port>) to a gateway on another port of the same host (same site, so the gateway's
 * SameSite cookies flow) with the example shop upstream behind it, it signs in, shows data (the gateway's own
 * and the shop's), lives through an access-token expiry (the gateway's clock is moved forward, nobody sleeps)
 * with exactly one refresh for several requests at once, and signs out.
 */
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstreamService, type UpstreamService } from '../../examples/upstream-service.js';
import { startWebAppServer, type WebAppServer } from '../../examples/web-app/serve.js';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { eventually } from '../gateway/support.js';
import { identityKeyOf } from '../upstream/support.js';
import { launchChromium } from '../support/chromium.js';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

describe('the web app in a browser, on another origin', () => {
  let gateway: TestGateway;
  let webApp: WebAppServer;
  let shop: UpstreamService;
  let browser: Browser;
  let page: Page;
  let offsetMs = 0;
  const authCalls: string[] = [];
  const consoleErrors: string[] = [];

  /** Refresh tokens the gateway has stored: one per login, plus one per rotation. */
  const storedRefreshTokens = (): Promise<number> => gateway.app.database.connection.collection('refresh_tokens').countDocuments();

  beforeAll(async () => {
    let gatewayUrl = '';
    const secret = randomSecret();
    const now = (): number => Date.now() + offsetMs;
    // The shop verifies identity tokens on the gateway's clock, which this test moves.
    // Its own identity key, as npm run identity:key prints it; never JWT_SECRET.
    shop = await startUpstreamService({ gateway: { secret: await identityKeyOf(secret, 'shop') }, audience: 'shop', now });
    // The app's server first: its origin goes into the gateway's ALLOWED_ORIGINS.
    webApp = await startWebAppServer({ settings: () => ({ gatewayUrl, shop: true }) });
    // The same app under the name localhost too: another site than the gateway's 127.0.0.1 (see the last test).
    const otherSite = webApp.origin.replace('127.0.0.1', 'localhost');
    gateway = await startGateway({ config: testConfig({ ALLOWED_ORIGINS: `${webApp.origin},${otherSite}`, JWT_SECRET: secret, UPSTREAMS: `shop=${shop.url}` }), app: { now } });
    gatewayUrl = gateway.url;
    // /readyz answers 200 once the shop's schema has loaded.
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    page.on('request', (request) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/graphql/auth') {
        const body = JSON.parse(request.postData() ?? '{}') as { operationName?: string };
        authCalls.push(body.operationName ?? '?');
      }
    });
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text().slice(0, 300));
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await webApp?.stop();
    await shop?.stop();
  });

  const panelStates = (): Promise<string[]> => page.locator('#panels .panel').evaluateAll((boxes) => boxes.map((box) => box.getAttribute('data-state') ?? ''));

  it('starts signed out, showing the shop’s public catalogue through the gateway', async () => {
    await page.goto(`${webApp.origin}/`);
    await expect.poll(() => page.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-out');
    expect(await page.locator('#login-form').isVisible()).toBe(true);
    // Signed in and signed out are exclusive: what is hidden is not rendered, whatever the stylesheet says.
    expect(await page.locator('#signed-in').isVisible()).toBe(false);
    await expect.poll(() => page.locator('#products li').count(), { timeout: 15_000 }).toBe(10);
    expect(await page.locator('#products li').first().innerText()).toBe('Product 1: 10 (3 reviews)');
  }, 30_000);

  it('signs in across origins: the gateway’s HttpOnly cookies are stored for it and sent back', async () => {
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await expect.poll(() => page.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-in');
    expect(await page.locator('#who').innerText()).toBe(EMAIL);
    expect(await page.locator('#signed-in').isVisible()).toBe(true);
    expect(await page.locator('#login-form').isVisible()).toBe(false);
    await expect.poll(panelStates, { timeout: 15_000 }).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await page.locator('#panel-me').innerText()).toContain(EMAIL);
    // The shop's @authorized field, answered with this user's own orders: the identity reached it.
    const userId = JSON.parse((await page.locator('#panel-me').innerText()).replace(/^Me: /, '')).me.id as string;
    expect(await page.locator('#panel-orders').innerText()).toContain(`${userId}-o1`);

    const cookies = await page.context().cookies(`${gateway.url}/graphql/auth`);
    const byName = new Map(cookies.map((cookie) => [cookie.name, cookie]));
    expect(byName.get(ACCESS_COOKIE)).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect(byName.get(REFRESH_COOKIE)).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/graphql/auth' });
    // Nothing of the session is readable by the app's scripts, on either origin.
    expect(await page.evaluate<string>('document.cookie')).toBe('');
    expect(authCalls).toEqual(['Login']);
    expect(await storedRefreshTokens()).toBe(1);
  }, 30_000);

  it('lives through an access-token expiry: several requests at once, exactly one refresh, data shown', async () => {
    const ttl = gateway.config.tokens.accessTokenTtlSeconds + gateway.config.tokens.clockToleranceSeconds;
    offsetMs += (ttl + 10) * 1000;
    // The browser still holds the access cookie (its Max-Age runs on the browser's clock): the gateway now
    // finds the token expired and says TOKEN_EXPIRED to each of the four panels' queries (the gateway's own
    // fields and the shop's alike).
    await page.click('#reload');
    await expect.poll(panelStates, { timeout: 15_000 }).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await page.locator('#panel-me').innerText()).toContain(EMAIL);
    expect(authCalls).toEqual(['Login', 'Refresh']);
    expect(await storedRefreshTokens()).toBe(2);
    expect(await page.locator('#status').innerText()).toContain('Refreshes so far: 1.');

    // And again, later: one more refresh for the next expiry, none in between.
    await page.click('#reload');
    await expect.poll(() => page.locator('#status').innerText(), { timeout: 15_000 }).toMatch(/Loaded at .*Refreshes so far: 1\./);
    offsetMs += (ttl + 10) * 1000;
    await page.click('#reload');
    await expect.poll(() => page.locator('#status').innerText(), { timeout: 15_000 }).toMatch(/Refreshes so far: 2\./);
    await expect.poll(panelStates, { timeout: 15_000 }).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(authCalls).toEqual(['Login', 'Refresh', 'Refresh']);
  }, 60_000);

  it('shows new reviews live over a WebSocket, past the access token’s expiry', async () => {
    // Another user writes a review through the gateway; the page's subscription (opened at sign-in, before the
    // expiries above) receives it from the shop.
    await gateway.createUser({ email: 'writer@example.com', password: PASSWORD });
    const login = await fetch(`${gateway.url}/graphql/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { login(email: "writer@example.com", password: "${PASSWORD}", delivery: BODY) { accessToken } }` }),
    });
    const token = ((await login.json()) as { data: { login: { accessToken: string } } }).data.login.accessToken;
    const review = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { addReview(productId: "p1", rating: 5, text: "arrived live") { id } }' }),
    });
    expect(((await review.json()) as { errors?: unknown }).errors).toBeUndefined();
    await expect.poll(() => page.locator('#live-reviews li').allInnerTexts(), { timeout: 10_000 }).toEqual(['5/5: arrived live']);
  }, 30_000);

  it('signs out: the signed-out state is shown, the cookies are gone and the gateway refuses the session', async () => {
    // The Logout answer reaches the page late, as on a slow network: the gateway has ended the session (and would
    // close a still-open live socket with 4403) well before. The page must still say it signed out, not that the
    // session ended behind its back.
    await page.route(`${gateway.url}/graphql/auth`, async (route) => {
      const body = JSON.parse(route.request().postData() ?? '{}') as { operationName?: string };
      if (body.operationName !== 'Logout') return route.continue();
      const response = await route.fetch();
      await new Promise((resolve) => setTimeout(resolve, 500));
      return route.fulfill({ response });
    });
    await page.click('#logout');
    await expect.poll(() => page.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-out');
    expect(await page.locator('#status').innerText()).toBe('Signed out.');
    expect(await page.locator('#login-form').isVisible()).toBe(true);
    expect(await page.locator('#signed-in').isVisible()).toBe(false);
    expect(authCalls.at(-1)).toBe('Logout');
    const names = (await page.context().cookies(`${gateway.url}/graphql/auth`)).map((cookie) => cookie.name);
    expect(names).not.toContain(ACCESS_COOKIE);
    expect(names).not.toContain(REFRESH_COOKIE);
    const after = await page.evaluate<{ code: unknown }, string>(async (url) => {
      const response = await fetch(`${url}/graphql`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { email } }' }) });
      const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: unknown } }> };
      return { code: body.errors?.[0]?.extensions?.code };
    }, gateway.url);
    expect(after.code).toBe('UNAUTHENTICATED');
    expect(consoleErrors).toEqual([]);
  }, 30_000);

  it('keeps no session when served from another site (localhost vs the gateway at 127.0.0.1), and says so', async () => {
    // CORS allows the origin, and the login itself succeeds; but the browser does not store SameSite cookies
    // from a cross-site fetch response, so the next request is a guest's.
    const other = await (await browser.newContext()).newPage();
    try {
      await other.goto(`${webApp.origin.replace('127.0.0.1', 'localhost')}/`);
      await expect.poll(() => other.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-out');
      await other.fill('#email', EMAIL);
      await other.fill('#password', PASSWORD);
      await other.click('#login');
      await expect.poll(() => other.locator('#status').innerText(), { timeout: 15_000 }).toContain('the browser kept no session cookie');
      expect(await other.context().cookies(gateway.url)).toEqual([]);
    } finally {
      await other.close();
    }
  }, 30_000);
});
