import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PAGE_CSP } from '../../src/http/account-pages.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

describe('the account link pages over HTTP', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    // Production with the playground off: the pages are how people reset a password, so they are still served.
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production', PLAYGROUND_ENABLED: 'false' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it.each([['/account/reset-password'], ['/account/verify-email']])('serves %s with a same-origin-only CSP, no inline script, nothing from elsewhere, and no-store', async (path) => {
    const response = await fetch(`${gateway.url}${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toBe(ACCOUNT_PAGE_CSP);
    expect(ACCOUNT_PAGE_CSP).toContain("script-src 'self'");
    expect(ACCOUNT_PAGE_CSP).not.toContain('unsafe-inline');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="assets\/account\.js"/);
      expect(body?.trim()).toBe('');
    }
    expect(html).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
    expect(html).not.toMatch(/\sstyle=|<style/);
  });

  it('serves the script and stylesheet from its own origin, with the same CSP', async () => {
    for (const [path, type] of [['/account/assets/account.js', /javascript/], ['/account/assets/account.css', /text\/css/]] as const) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(type);
      expect(response.headers.get('content-security-policy')).toBe(ACCOUNT_PAGE_CSP);
    }
  });

  it('answers the JSON 404 for anything else under /account, and the playground stays off', async () => {
    const missing = await fetch(`${gateway.url}/account/assets/nothing.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]?.extensions.code).toBe('NOT_FOUND');
    expect((await fetch(`${gateway.url}/account/reset-password/`)).status).toBe(404);
    expect((await fetch(`${gateway.url}/playground`)).status).toBe(404);
  });
});
