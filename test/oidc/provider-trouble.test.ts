import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { ErrorCode } from '../../src/errors.js';
import { ACCESS_COOKIE } from '../../src/http/cookies.js';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';
import { testConfig } from '../support/config.js';
import { HttpBrowser } from '../support/oidc-browser.js';
import { providerKeys, startOidcProvider, type TestProvider } from '../support/oidc-provider.js';
import { ACCOUNTS, errorOf, startWithProviders, type Setup } from './support.js';

describe('a provider in trouble', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses an ID token issued for another client (audience), with a valid signature from the right issuer', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const setup: Setup = await startWithProviders(['corp'], {}, { idTokenAudience: true, logger: createLogger('info', { stream }) });
    cleanups.push(() => setup.stop());
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(`${setup.gateway.url}/auth/oidc/corp/start`, 'alice');
    const back = await browser.visit(callbackUrl);
    expect(errorOf(back.location)).toBe(ErrorCode.OIDC_PROVIDER_ERROR);
    expect(browser.cookie(new URL(setup.gateway.url).host, ACCESS_COOKIE)).toBeUndefined();
    // Refused by the ID token's claim checks (aud), not by an earlier failure of the exchange.
    expect(lines.filter((line) => line.includes('did not complete')).join('')).toContain('OAUTH_JWT_CLAIM_COMPARISON_FAILED');
  });

  it('answers SIGNUP_DISABLED for an unknown identity when sign-up is off', async () => {
    const setup: Setup = await startWithProviders(['corp'], { SIGNUP_ENABLED: 'false' });
    cleanups.push(() => setup.stop());
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(`${setup.gateway.url}/auth/oidc/corp/start`, 'alice');
    expect(errorOf((await browser.visit(callbackUrl)).location)).toBe(ErrorCode.SIGNUP_DISABLED);
  });

  it('starts while the provider is down, answers OIDC_PROVIDER_UNAVAILABLE, and signs in once it is back', async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const providerPort = await freePort();
    const jwks = await providerKeys();
    const providerOptions = {
      clients: [{ client_id: 'corp-client', client_secret: 'corp-secret-value', redirect_uris: [`${publicUrl}/auth/oidc/corp/callback`], token_endpoint_auth_method: 'client_secret_post' as const }],
      accounts: ACCOUNTS,
      jwks,
      port: providerPort,
    };
    const gateway: TestGateway = await startGateway({
      port,
      config: testConfig({
        PUBLIC_URL: publicUrl,
        SIGNUP_ENABLED: 'true',
        OIDC_PROVIDERS: 'corp',
        OIDC_CORP_ISSUER: `http://127.0.0.1:${providerPort}`,
        OIDC_CORP_CLIENT_ID: 'corp-client',
        OIDC_CORP_CLIENT_SECRET: 'corp-secret-value',
      }),
    });
    cleanups.push(() => gateway.stop());
    const start = `${gateway.url}/auth/oidc/corp/start?returnTo=/back`;
    const down = await new HttpBrowser().visit(start);
    expect(down).toEqual({ status: 303, location: `/back#error=${ErrorCode.OIDC_PROVIDER_UNAVAILABLE}` });

    const provider: TestProvider = await startOidcProvider(providerOptions);
    cleanups.push(() => provider.stop());
    let started = down;
    for (let attempt = 0; attempt < 40 && started.status !== 302; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      started = await new HttpBrowser().visit(start);
    }
    expect(started.status).toBe(302);
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(start, 'alice');
    expect(await browser.visit(callbackUrl)).toEqual({ status: 303, location: '/back' });

    // Down again after discovery: the code exchange cannot reach it.
    const midway = new HttpBrowser();
    const pending = await midway.signInAtProvider(start, 'alice');
    await provider.stop();
    expect(errorOf((await midway.visit(pending.callbackUrl)).location)).toBe(ErrorCode.OIDC_PROVIDER_UNAVAILABLE);
    expect(midway.cookie(new URL(gateway.url).host, ACCESS_COOKIE)).toBeUndefined();
  });

  it('throttles starts and callbacks per address, like login', async () => {
    const setup: Setup = await startWithProviders(['corp']);
    cleanups.push(() => setup.stop());
    const start = `${setup.gateway.url}/auth/oidc/corp/start?returnTo=/back`;
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await new HttpBrowser().visit(start)).status);
    expect(statuses.every((status) => status === 302)).toBe(true);
    expect(await new HttpBrowser().visit(start)).toEqual({ status: 303, location: `/back#error=${ErrorCode.RATE_LIMITED}` });
    const callback = await new HttpBrowser().visit(`${setup.gateway.url}/auth/oidc/corp/callback?code=x&state=y`);
    expect(errorOf(callback.location)).toBe(ErrorCode.RATE_LIMITED);
  }, 60_000);
});
