/**
 * The example web app's second-factor prompt and passkeys, in headless Chromium with a virtual authenticator.
 * App and gateway are both on localhost (other ports: one site, so the gateway's cookies flow; and a host name,
 * since browsers take no IP address as a passkey's RP id). The ceremonies run on the app's page, so its origin
 * is the one WEBAUTHN_ORIGINS lists.
 */
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAppServer, type WebAppServer } from '../../examples/web-app/serve.js';
import { BeginTotpEnrollmentDocument, ConfirmTotpEnrollmentDocument, LoginDocument } from '../generated/operations.js';
import { launchChromium } from '../support/chromium.js';
import { testConfig } from '../support/config.js';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';

const EMAIL = 'grace@example.com';
const PASSWORD = 'correct horse battery staple';

describe('the web app with a second factor and passkeys', () => {
  let gateway: TestGateway;
  let webApp: WebAppServer;
  let browser: Browser;
  let page: Page;
  let appOrigin = '';
  let totp: TOTP;
  let step = 0;

  beforeAll(async () => {
    let gatewayUrl = '';
    webApp = await startWebAppServer({ settings: () => ({ gatewayUrl, shop: false }) });
    appOrigin = webApp.origin.replace('127.0.0.1', 'localhost');
    const port = await freePort();
    gateway = await startGateway({
      config: testConfig({ ALLOWED_ORIGINS: appOrigin, WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: appOrigin }),
      port,
    });
    gatewayUrl = `http://localhost:${port}`;

    // An account with TOTP, enrolled through the API; codes computed here from the secret.
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
    const signedIn = await gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' });
    const auth = { headers: { authorization: `Bearer ${signedIn.body.data?.login.accessToken ?? ''}` } };
    const secret = (await gateway.request(BeginTotpEnrollmentDocument, {}, auth)).body.data?.beginTotpEnrollment.secret ?? '';
    totp = new TOTP({ secret: Secret.fromBase32(secret) });
    step = Math.floor(Date.now() / 30_000);
    expect((await gateway.request(ConfirmTotpEnrollmentDocument, { code: totp.generate({ timestamp: step * 30_000 }) }, auth)).body.errors).toBeUndefined();

    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await webApp?.stop();
  });

  const session = (): Promise<string | null> => page.locator('body').getAttribute('data-session');

  it('asks for the second factor after the right password, and signs in with the code', async () => {
    await page.goto(`${appOrigin}/`);
    await expect.poll(session, { timeout: 15_000 }).toBe('signed-out');
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await page.locator('#second-factor-form').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('#login-form').isVisible()).toBe(false);
    expect(await session()).toBe('signed-out');
    // The confirming code is spent; the next step's code is accepted (one step of drift is allowed).
    await page.fill('#second-factor-code', totp.generate({ timestamp: (step + 1) * 30_000 }));
    await page.click('#second-factor-submit');
    await expect.poll(session, { timeout: 15_000 }).toBe('signed-in');
    expect(await page.locator('#who').innerText()).toBe(EMAIL);
  }, 60_000);

  it('adds a passkey, then signs in with it after signing out, without typing an email', async () => {
    await page.click('#add-passkey');
    await expect.poll(() => page.locator('#status').innerText(), { timeout: 15_000 }).toBe('Passkey "This browser" added.');
    await page.click('#logout');
    await expect.poll(session, { timeout: 15_000 }).toBe('signed-out');
    await page.click('#passkey-login');
    await expect.poll(session, { timeout: 15_000 }).toBe('signed-in');
    expect(await page.locator('#who').innerText()).toBe(EMAIL);
    // The panel fills from its own query after sign-in ("loading…" until it answers): waited for, not read at once.
    await expect.poll(() => page.locator('#panel-session').innerText(), { timeout: 15_000 }).toContain('currentSession');
  }, 60_000);
});
