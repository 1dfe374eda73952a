/** The playground's routes over HTTP: its own CSP on the page and assets, the API's CSP untouched, and off. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAYGROUND_CSP } from '../../src/http/playground.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

/** What Chromium sends when a person opens a URL. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

function directives(csp: string | null): Map<string, string[]> {
  return new Map((csp ?? '').split(';').map((part) => part.trim().split(/\s+/)).map(([name = '', ...values]) => [name, values]));
}

describe('the playground, on', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
  });

  it.each(['/playground', '/graphql'])('serves the page at %s to a browser, with a same-origin CSP', async (path) => {
    const response = await fetch(`${gateway.url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toBe(PLAYGROUND_CSP);
    const csp = directives(response.headers.get('content-security-policy'));
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    // Every script is a same-origin file: nothing inline, nothing from elsewhere.
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes = '', body = ''] of scripts) {
      expect(attributes).toMatch(/src="\/playground\/assets\//);
      expect(body.trim()).toBe('');
    }
  });

  it('serves the assets with the same CSP, cacheable, and 404s a missing one as JSON', async () => {
    const html = await (await fetch(`${gateway.url}/playground`)).text();
    const asset = /src="(\/playground\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const response = await fetch(`${gateway.url}${asset}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(PLAYGROUND_CSP);
    expect(response.headers.get('cache-control')).toContain('immutable');
    const missing = await fetch(`${gateway.url}/playground/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(directives(missing.headers.get('content-security-policy')).get('default-src')).toEqual(["'none'"]);
  });

  it('leaves the API alone: POSTs, GET queries and JSON clients get GraphQL with the API CSP', async () => {
    const post = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(await post.json()).toEqual({ data: { __typename: 'Query' } });
    expect(directives(post.headers.get('content-security-policy')).get('default-src')).toEqual(["'none'"]);
    const get = await fetch(`${gateway.url}/graphql?query=%7B__typename%7D`, { headers: { accept: BROWSER_ACCEPT, 'apollo-require-preflight': 'true' } });
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    const json = await fetch(`${gateway.url}/graphql`, { headers: { accept: 'application/json' } });
    expect(json.headers.get('content-type')).not.toMatch(/text\/html/);
  });
});

describe('the playground, off', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ PLAYGROUND_ENABLED: 'false' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it.each(['/graphql', '/playground', '/playground/assets/index.js'])('answers a browser at %s with a short plain-text note', async (path) => {
    const response = await fetch(`${gateway.url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await response.text()).toContain('PLAYGROUND_ENABLED');
    expect(directives(response.headers.get('content-security-policy')).get('default-src')).toEqual(["'none'"]);
  });
});
