/**
 * The example web app's provider buttons in headless Chromium: it draws one per `signInProviders` entry, signs
 * in through a real oidc-provider (its own login and consent pages) and comes back signed in; a refused sign-in
 * comes back with `#error=<CODE>`, which the app shows.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAppServer, type WebAppServer } from '../../examples/web-app/serve.js';
import { launchChromium } from '../support/chromium.js';
import { startWithProviders, type Setup } from '../oidc/support.js';

describe('the web app signs in through an OpenID Connect provider', () => {
  let setup: Setup;
  let webApp: WebAppServer;
  let browser: Browser;

  beforeAll(async () => {
    let gatewayUrl = '';
    webApp = await startWebAppServer({ settings: () => ({ gatewayUrl, shop: false }) });
    setup = await startWithProviders(['corp'], { ALLOWED_ORIGINS: webApp.origin, OIDC_CORP_LABEL: 'Corp SSO' });
    gatewayUrl = setup.gateway.url;
    await setup.gateway.createUser({ email: 'ada@example.com', password: 'correct horse battery staple' });
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await setup?.stop();
    await webApp?.stop();
  });

  async function signInAtProvider(page: Page, account: string): Promise<void> {
    await page.goto(`${webApp.origin}/`);
    const button = page.locator('a.provider[data-provider=corp]');
    await expect.poll(() => button.count(), { timeout: 15_000 }).toBe(1);
    expect(await button.innerText()).toBe('Sign in with Corp SSO');
    await button.click();
    await page.locator('input[name=login]').fill(account);
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    await page.locator('button[type=submit]').click();
    await page.waitForURL((url) => url.origin === webApp.origin);
  }

  it('draws a button per provider and comes back signed in', async () => {
    const page = await (await browser.newContext()).newPage();
    await signInAtProvider(page, 'alice');
    await expect.poll(() => page.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-in');
    expect(await page.locator('#who').innerText()).toBe('alice@corp.example');
  }, 60_000);

  it('shows the code of a refused sign-in and stays signed out', async () => {
    const page = await (await browser.newContext()).newPage();
    // Ada has a password account; corp is not trusted to link by email.
    await signInAtProvider(page, 'ada');
    await expect.poll(() => page.locator('body').getAttribute('data-session'), { timeout: 15_000 }).toBe('signed-out');
    expect(await page.locator('#status').innerText()).toBe('Sign-in failed: OIDC_ACCOUNT_EXISTS');
    expect(new URL(page.url()).hash).toBe('');
  }, 60_000);
});
