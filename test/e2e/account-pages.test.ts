/**
 * The link pages as a person uses them: headless Chromium (driven by playwright-core) opens the link from a
 * message the SMTP server received, types the new password, and sees the outcome. The server records what
 * it was sent, to show the token never travels in a URL or a Referer.
 */
import { mkdirSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginDocument, MeDocument, MeVerifiedDocument, RequestPasswordResetDocument, SignUpDocument } from '../generated/operations.js';
import { NEW_PASSWORD, PASSWORD, startMailGateway } from '../accounts/support.js';
import type { TestGateway } from '../support/gateway.js';
import { linkIn, startMailbox, type Mailbox } from '../support/mailbox.js';
import { launchChromium } from '../support/chromium.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

describe('the account link pages in a browser', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const posts: string[] = [];
  const cspViolations: string[] = [];
  /** What reached the server: request lines and Referer headers. */
  const seenByServer: string[] = [];

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { env: { SIGNUP_ENABLED: 'true' } });
    gateway.app.httpServer.prependListener('request', (req: IncomingMessage) => {
      seenByServer.push(`${req.method} ${req.url} referer=${req.headers.referer ?? ''}`);
    });
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
    page.on('request', (request) => {
      requests.push(request.url());
      if (request.method() === 'POST') posts.push(new URL(request.url()).pathname);
    });
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text().slice(0, 300));
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await mailbox?.stop();
  });

  async function outcome(): Promise<{ outcome: string | null; code: string | null; text: string }> {
    const status = page.locator('#status');
    await expect.poll(async () => status.getAttribute('data-outcome'), { timeout: 15_000 }).toMatch(/^(success|error)$/);
    return { outcome: await status.getAttribute('data-outcome'), code: await status.getAttribute('data-code'), text: await status.innerText() };
  }

  it('opens the reset link from the received message, sets the new password, and ends the old session', async () => {
    const session = await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD, delivery: 'BODY' });
    const oldAccessToken = session.body.data?.login.accessToken ?? '';
    const arriving = mailbox.next('ada@example.com');
    await gateway.request(RequestPasswordResetDocument, { email: 'ada@example.com' }, { path: '/graphql/auth' });
    const { link, token } = linkIn(await arriving);
    expect(new URL(link).origin).toBe(gateway.url);

    await page.goto(link);
    await page.locator('#new-password').waitFor();
    // The token leaves the address bar (and history) as soon as the page has read it.
    expect(page.url()).toBe(`${gateway.url}/account/reset-password`);

    // Two different entries are caught in the page, before anything is sent.
    const postsBefore = posts.length;
    await page.fill('#new-password', NEW_PASSWORD);
    await page.fill('#repeat-password', `${NEW_PASSWORD} typo`);
    await page.click('#submit');
    expect(await outcome()).toMatchObject({ outcome: 'error', code: 'MISMATCH' });
    expect(posts.length).toBe(postsBefore);

    await page.fill('#repeat-password', NEW_PASSWORD);
    await page.click('#submit');
    const done = await outcome();
    expect(done).toMatchObject({ outcome: 'success', code: 'OK' });
    expect(done.text).toContain('Sign in with the new password');
    expect(posts.slice(postsBefore)).toEqual(['/graphql/auth']);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}account-reset-password.png` });

    expect((await gateway.request(LoginDocument, { email: 'ada@example.com', password: NEW_PASSWORD })).body.errors).toBeUndefined();
    await expect
      .poll(async () => (await gateway.request(MeDocument, {}, { headers: { authorization: `Bearer ${oldAccessToken}` } })).body.errors?.[0]?.extensions?.['code'])
      .toBe('UNAUTHENTICATED');

    // The same link again: the page shows that it is spent.
    await page.goto(link);
    await page.fill('#new-password', 'a third new passphrase');
    await page.fill('#repeat-password', 'a third new passphrase');
    await page.click('#submit');
    expect(await outcome()).toMatchObject({ outcome: 'error', code: 'RESET_TOKEN_INVALID' });

    // The token reached the server only in the POST bodies, never in a URL or a Referer.
    expect(seenByServer.some((line) => line.startsWith('GET /account/reset-password '))).toBe(true);
    expect(seenByServer.filter((line) => line.includes(token))).toEqual([]);
  }, 60_000);

  it('opens the verification link mailed at sign-up and confirms the address', async () => {
    const arriving = mailbox.next('grace@example.com');
    await gateway.request(SignUpDocument, { email: 'grace@example.com', password: PASSWORD });
    const { link } = linkIn(await arriving);
    await page.goto(link);
    await page.locator('#submit').waitFor();
    expect(page.url()).toBe(`${gateway.url}/account/verify-email`);
    await page.click('#submit');
    expect(await outcome()).toMatchObject({ outcome: 'success', code: 'OK' });

    const login = await gateway.request(LoginDocument, { email: 'grace@example.com', password: PASSWORD, delivery: 'BODY' });
    const me = await gateway.request(MeVerifiedDocument, {}, { headers: { authorization: `Bearer ${login.body.data?.login.accessToken ?? ''}` } });
    expect(me.body.data?.me.emailVerified).toBe(true);
  }, 60_000);

  it('says what to do when opened without a token', async () => {
    await page.goto(`${gateway.url}/account/reset-password`);
    expect(await outcome()).toMatchObject({ outcome: 'error', code: 'NO_TOKEN' });
    expect(await page.locator('#form').isHidden()).toBe(true);
  });

  it('sends no request to another origin and breaks no CSP rule', () => {
    const origin = new URL(gateway.url).origin;
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(requests.some((url) => url === `${origin}/account/assets/account.js`)).toBe(true);
    expect(cspViolations).toEqual([]);
  });
});
