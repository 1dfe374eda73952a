/**
 * The playground as a person uses it: headless Chromium (the system package, driven by playwright-core) opens
 * GraphiQL from the gateway, logs in and asks `me` through the page, which sends the browser's cookies.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { BeginTotpEnrollmentDocument, ConfirmTotpEnrollmentDocument, LoginDocument } from '../generated/operations.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { launchChromium } from '../support/chromium.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';

describe('the playground in a browser', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const posts: string[] = [];
  const workers: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    gateway = await startGateway();
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('request', (request) => {
      requests.push(request.url());
      if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
    });
    page.on('worker', (worker) => workers.push(worker.url()));
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text().slice(0, 300));
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  /** What an element shows; Monaco renders spaces as no-break spaces. */
  async function text(locator: Locator): Promise<string> {
    return (await locator.innerText()).replace(/\u00a0/g, ' ');
  }

  /** Opens the playground with `query` in its editor, runs it, and returns what the response pane shows. */
  async function run(query: string, expected: string): Promise<string> {
    await page.goto(`${gateway.url}/playground?query=${encodeURIComponent(query)}`);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
    await page.locator('.graphiql-execute-button').click();
    const response = page.locator('.graphiql-response');
    await expect.poll(async () => text(response), { timeout: 15_000 }).toContain(expected);
    return text(response);
  }

  it('opens at /graphql in a browser, with the example operations', async () => {
    await page.goto(`${gateway.url}/graphql`);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor({ timeout: 30_000 });
    await expect.poll(async () => text(page.locator('.graphiql-query-editor'))).toContain('mutation Login');
    // Monaco's GraphQL language service runs in a worker, loaded from this origin (worker-src 'self').
    const worker = /\/playground\/assets\/graphql\.worker-[\w-]+\.js$/;
    await expect.poll(() => workers.some((url) => worker.test(url)), { timeout: 15_000 }).toBe(true);
  }, 60_000);

  it('logs in, then answers `me` from the cookie, which the page cannot read', async () => {
    const login = await run(`mutation { login(email: "${EMAIL}", password: "${PASSWORD}") { user { email } } }`, EMAIL);
    expect(login).not.toContain('"errors"');

    const me = await run('{ me { email roles } }', EMAIL);
    expect(me).not.toContain('"errors"');

    // The browser holds the session, HttpOnly: no script on the page sees a token.
    const names = (await page.context().cookies(`${gateway.url}/graphql/auth`)).map((cookie) => cookie.name);
    expect(names).toEqual(expect.arrayContaining([ACCESS_COOKIE, REFRESH_COOKIE]));
    const visible = await page.evaluate<string>('document.cookie');
    expect(visible).not.toContain('portcullis');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}playground.png` });
  }, 60_000);

  it('runs a subscription over a WebSocket with the cookie', async () => {
    await page.goto(`${gateway.url}/playground?query=${encodeURIComponent('subscription { mySessionEvents { kind } }')}`);
    await page.locator('.graphiql-query-editor .monaco-editor').waitFor();
    await page.locator('.graphiql-execute-button').click();
    // A sign-in elsewhere reaches the running subscription (the feed looks every second).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const other = await fetch(`${gateway.url}/graphql/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `mutation { login(email: "${EMAIL}", password: "${PASSWORD}", delivery: BODY) { accessToken } }` }),
    });
    expect(other.status).toBe(200);
    await expect.poll(async () => text(page.locator('.graphiql-response')), { timeout: 15_000 }).toContain('CREATED');
    // Stop it before the next test reuses the page.
    await page.locator('.graphiql-execute-button').click();
  }, 60_000);

  it('refreshes and logs out through /graphql/auth, after which `me` is refused', async () => {
    expect(await run('mutation { refresh { accessTokenExpiresAt } }', 'accessTokenExpiresAt')).not.toContain('"errors"');
    expect(await run('mutation { logout }', '"logout": true')).not.toContain('"errors"');
    expect(await run('{ me { email } }', 'UNAUTHENTICATED')).not.toContain(EMAIL);
    // The auth mutations went to /graphql/auth (where the refresh cookie is scoped), everything else to /graphql.
    expect(posts.filter((path) => path === '/graphql/auth')).toHaveLength(3);
    expect(posts).toContain('/graphql');
  }, 60_000);

  it('signs in with a second factor: login answers MFA_REQUIRED with a challenge, verifySecondFactor completes it', async () => {
    const email = 'grace@example.com';
    await gateway.createUser({ email, password: PASSWORD });
    // Enrolled through the API; the codes computed here from the secret (otpauth), not by the server.
    const signedIn = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    const auth = { headers: { authorization: `Bearer ${signedIn.body.data?.login.accessToken ?? ''}` } };
    const secret = (await gateway.request(BeginTotpEnrollmentDocument, {}, auth)).body.data?.beginTotpEnrollment.secret ?? '';
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    const step = Math.floor(Date.now() / 30_000);
    expect((await gateway.request(ConfirmTotpEnrollmentDocument, { code: totp.generate({ timestamp: step * 30_000 }) }, auth)).body.errors).toBeUndefined();

    const asked = await run(`mutation { login(email: "${email}", password: "${PASSWORD}") { user { email } } }`, 'MFA_REQUIRED');
    const challenge = /"challenge": "([A-Za-z0-9_-]{43})"/.exec(asked)?.[1];
    expect(challenge).toBeDefined();
    // The confirming code is spent; the next step's code is accepted (one step of drift is allowed).
    const code = totp.generate({ timestamp: (step + 1) * 30_000 });
    const verified = await run(`mutation { verifySecondFactor(challenge: "${challenge}", code: "${code}") { user { email } } }`, email);
    expect(verified).not.toContain('"errors"');
    const session = await run('{ currentSession { amr } }', 'mfa');
    expect(session).not.toContain('"errors"');
  }, 60_000);

  it('sends no request to another origin and breaks no CSP rule', () => {
    const origin = new URL(gateway.url).origin;
    const elsewhere = requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin);
    expect(elsewhere).toEqual([]);
    expect(requests.some((url) => url.startsWith(`${origin}/playground/assets/`))).toBe(true);
    expect(cspViolations).toEqual([]);
  });
});
