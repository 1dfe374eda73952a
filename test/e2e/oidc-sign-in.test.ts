/**
 * Sign-in through a real OpenID provider (oidc-provider in its own process) in headless Chromium: the gateway's
 * start route, the provider's own login and consent pages, the callback, and `me` with the cookies it set.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { startWithProviders, type Setup } from '../oidc/support.js';

describe('sign-in through an OpenID Connect provider in Chromium', () => {
  let setup: Setup;
  let browser: Browser;

  beforeAll(async () => {
    setup = await startWithProviders(['corp']);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await setup?.stop();
  });

  it('goes through the provider\'s login and consent pages and ends signed in, answering me', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${setup.gateway.url}/auth/oidc/corp/start?returnTo=/healthz`);
    // oidc-provider's development login page: any password, the login names the account.
    await page.locator('input[name=login]').fill('alice');
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    // Its consent page.
    await page.locator('button[type=submit]').click();
    await page.waitForURL(`${setup.gateway.url}/healthz`);
    // The gateway's pages allow no script to fetch (CSP default-src 'none'): ask with the browser context's own
    // cookie jar instead, which holds exactly what the callback set.
    const response = await page.context().request.post(`${setup.gateway.url}/graphql`, {
      headers: { 'content-type': 'application/json' },
      data: { query: '{ me { email signInMethods { kind provider } } }' },
    });
    const me = (await response.json()) as { data?: { me: { email: string; signInMethods: Array<{ kind: string; provider: string | null }> } } };
    expect(me.data?.me).toEqual({ email: 'alice@corp.example', signInMethods: [{ kind: 'OIDC', provider: 'corp' }] });
    const cookies = await page.context().cookies(setup.gateway.url);
    expect(cookies.find((cookie) => cookie.name === '__Host-portcullis-access')).toMatchObject({ httpOnly: true, secure: true });
    expect(cookies.find((cookie) => cookie.name === '__Host-portcullis-oidc')).toBeUndefined();
  });

  it('shows the provider buttons in the playground, and the code of a refused sign-in', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${setup.gateway.url}/playground#error=OIDC_ACCOUNT_EXISTS`);
    const link = page.locator('#providers a[data-provider=corp]');
    await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
    expect(await link.getAttribute('href')).toBe(`${setup.gateway.url}/auth/oidc/corp/start?returnTo=%2Fplayground`);
    expect(await page.locator('#providers').innerText()).toContain('Sign-in failed: OIDC_ACCOUNT_EXISTS');
  });
});
