/**
 * A live subscription as a browser holds it: headless Chromium on a page of an allowed origin (another port of the
 * same host, so the gateway's SameSite cookies flow) signs in with cookies, opens a WebSocket to the gateway (the
 * browser sends the access cookie on the upgrade; no token is visible to the page), receives events, and is closed
 * with 4403 when the session is logged out in another tab.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';
import { testConfig } from '../support/config.js';
import { launchChromium } from '../support/chromium.js';
import { send } from '../gateway/support.js';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

describe('a browser’s WebSocket subscription, bound to its cookie session', () => {
  let gateway: TestGateway;
  let site: Server;
  let siteOrigin: string;
  let browser: Browser;

  beforeAll(async () => {
    site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>'));
    const port = await freePort();
    await new Promise<void>((resolve) => site.listen(port, '127.0.0.1', resolve));
    siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    gateway = await startGateway({ config: testConfig({ ALLOWED_ORIGINS: siteOrigin }) });
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await new Promise((resolve) => site?.close(resolve));
  });

  it('receives events over the cookie-authenticated socket, and is closed with 4403 after a logout in another tab', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(siteOrigin);
    const loggedIn = await page.evaluate(
      async ({ gatewayUrl, email, password }) => {
        const response = await fetch(`${gatewayUrl}/graphql/auth`, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: `mutation { login(email: "${email}", password: "${password}") { user { email } } }` }),
        });
        return JSON.stringify(await response.json());
      },
      { gatewayUrl: gateway.url, email: EMAIL, password: PASSWORD },
    );
    expect(loggedIn).toContain(EMAIL);
    expect(loggedIn).not.toContain('accessToken');

    await page.evaluate((wsUrl) => {
      const state = { messages: [] as unknown[], closed: 0 };
      (globalThis as unknown as { live: typeof state }).live = state;
      const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init' }));
      socket.onmessage = (event) => {
        const message = JSON.parse(String(event.data)) as { type: string };
        state.messages.push(message);
        if (message.type === 'connection_ack') {
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { mySessionEvents { kind } }' } }));
        }
      };
      socket.onclose = (event) => {
        state.closed = event.code;
      };
    }, `${gateway.url.replace(/^http/, 'ws')}/graphql`);
    const messages = (): Promise<string> => page.evaluate(() => JSON.stringify((globalThis as unknown as { live: { messages: unknown[] } }).live.messages));
    await expect.poll(messages, { timeout: 10_000 }).toContain('connection_ack');
    // The subscription is running: a sign-in elsewhere reaches it.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const other = await send(gateway.url, `mutation { login(email: "${EMAIL}", password: "${PASSWORD}", delivery: BODY) { accessToken } }`);
    expect(other.body.errors).toBeUndefined();
    await expect.poll(messages, { timeout: 10_000 }).toContain('CREATED');

    // Another tab of the same browser signs out.
    const tab = await context.newPage();
    await tab.goto(siteOrigin);
    const loggedOut = await tab.evaluate(async (gatewayUrl) => {
      const response = await fetch(`${gatewayUrl}/graphql/auth`, {
        method: 'POST',
        credentials: 'include',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation { logout }' }),
      });
      return JSON.stringify(await response.json());
    }, gateway.url);
    expect(loggedOut).toContain('"logout":true');
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as { live: { closed: number } }).live.closed), { timeout: 5_000 }).toBe(4403);
    await context.close();
  }, 60_000);
});
