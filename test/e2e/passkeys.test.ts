/**
 * Passkeys end to end: headless Chromium with a virtual authenticator (DevTools protocol: internal transport,
 * resident keys, user verification), @simplewebauthn/browser in a page of the gateway's own origin
 * (http://localhost:<port>, a secure context whose host is the RP id), and the real gateway on FerretDB.
 * The tests run in order and share one authenticator: the first registers the passkey the others use.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeJwt } from 'jose';
import type { mongo } from 'mongoose';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { PASSKEY_COOKIE } from '../../src/http/cookies.js';
import { launchChromium } from '../support/chromium.js';
import { testConfig } from '../support/config.js';
import { freePort, rawCollection, startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';
// The package's exports map hides its UMD bundle; it sits beside package.json.
const BROWSER_BUNDLE = join(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js');

interface Answer {
  data?: Record<string, unknown> | null;
  errors?: Array<{ extensions?: Record<string, unknown> }>;
}

describe('passkeys in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let otherOrigin: Server;
  let origin: string;
  /** Added to the real clock: the gateway's `now`, moved to let a challenge expire. */
  let clockOffsetMs = 0;

  beforeAll(async () => {
    const port = await freePort();
    origin = `http://localhost:${port}`;
    gateway = await startGateway({ config: testConfig({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin }), port, app: { now: () => Date.now() + clockOffsetMs } });
    // Another page on the same RP id but an origin the gateway does not list.
    otherOrigin = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
    await new Promise<void>((resolve) => otherOrigin.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
    // The gateway's own responses carry CSP default-src 'none'; the test injects its script into one of them.
    page = await (await browser.newContext({ bypassCSP: true })).newPage();
    cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
    await openGatewayPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (otherOrigin ? otherOrigin.close(() => resolve()) : resolve()));
    await gateway?.stop();
  });

  async function openGatewayPage(): Promise<void> {
    await page.goto(`${origin}/healthz`);
    await page.addScriptTag({ path: BROWSER_BUNDLE });
  }

  /** A GraphQL request from the page (same origin: its cookies travel). */
  async function gql(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Answer> {
    return page.evaluate(
      async ({ query, variables, token }) => {
        const response = await fetch('/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query, variables }),
        });
        return (await response.json()) as Answer;
      },
      { query, variables, token },
    );
  }

  /** The browser's half of a ceremony, through @simplewebauthn/browser. */
  async function create(optionsJSON: unknown): Promise<unknown> {
    return page.evaluate((options) => (globalThis as any).SimpleWebAuthnBrowser.startRegistration({ optionsJSON: options }), optionsJSON);
  }
  async function get(optionsJSON: unknown): Promise<unknown> {
    return page.evaluate((options) => (globalThis as any).SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: options }), optionsJSON);
  }

  const codeOf = (answer: Answer): unknown => answer.errors?.[0]?.extensions?.['code'];

  async function passwordToken(email: string): Promise<string> {
    const answer = await gql('mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
      email,
      password: PASSWORD,
    });
    return (answer.data?.['login'] as { accessToken: string }).accessToken;
  }

  async function register(token: string, name: string): Promise<{ id: string; name: string }> {
    const options = await gql('mutation { passkeyRegistrationOptions }', {}, token);
    const response = await create(options.data?.['passkeyRegistrationOptions']);
    const added = await gql('mutation($response: JSON!, $name: String) { registerPasskey(response: $response, name: $name) { id name } }', { response, name }, token);
    expect(added.errors).toBeUndefined();
    return added.data?.['registerPasskey'] as { id: string; name: string };
  }

  async function assertion(): Promise<unknown> {
    const options = await gql('mutation { passkeyLoginOptions }');
    return get(options.data?.['passkeyLoginOptions']);
  }

  const LOGIN = 'mutation($response: JSON!) { loginWithPasskey(response: $response, delivery: BODY) { accessToken user { email } } }';

  it('registers a passkey, then signs in with it without an email typed, counted as multi-factor', async () => {
    const user = await gateway.createUser({ email: 'passkey-owner@example.com', password: PASSWORD });
    const token = await passwordToken(user.email);
    const added = await register(token, 'Laptop');
    expect(added.name).toBe('Laptop');
    const listed = await gql('{ myPasskeys { id name lastUsedAt } }', {}, token);
    expect(listed.data?.['myPasskeys']).toEqual([{ id: added.id, name: 'Laptop', lastUsedAt: null }]);

    // Signed out: no token, no session cookie. The passkey itself names the account.
    const signedIn = await gql(LOGIN, { response: await assertion() });
    expect(signedIn.errors).toBeUndefined();
    const payload = signedIn.data?.['loginWithPasskey'] as { accessToken: string; user: { email: string } };
    expect(payload.user.email).toBe(user.email);
    const claims = decodeJwt(payload.accessToken);
    expect(claims['amr']).toEqual([expect.stringMatching(/^(hwk|swk)$/), 'user', 'mfa']);
    const session = await gql('{ currentSession { amr } }', {}, payload.accessToken);
    expect((session.data?.['currentSession'] as { amr: string[] }).amr).toContain('mfa');
    const events = await rawCollection<mongo.Document>(gateway, 'audit_events').find({ userId: user.id }).toArray();
    expect(events.map((event) => event['type'])).toEqual(expect.arrayContaining(['passkey-added', 'signed-in']));
  });

  it('refuses a replayed assertion', async () => {
    const response = await assertion();
    expect(codeOf(await gql(LOGIN, { response }))).toBeUndefined();
    expect(codeOf(await gql(LOGIN, { response }))).toBe(ErrorCode.PASSKEY_INVALID);
  });

  it('refuses an assertion whose challenge was issued to another browser (no binding cookie, or another one)', async () => {
    const response = await assertion();
    const fromElsewhere = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: LOGIN, variables: { response } }),
    });
    expect(codeOf((await fromElsewhere.json()) as Answer)).toBe(ErrorCode.PASSKEY_INVALID);
    const withOtherCookie = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `${PASSKEY_COOKIE}=${'x'.repeat(43)}` },
      body: JSON.stringify({ query: LOGIN, variables: { response } }),
    });
    expect(codeOf((await withOtherCookie.json()) as Answer)).toBe(ErrorCode.PASSKEY_INVALID);
  });

  it('answers PASSKEY_CHALLENGE_EXPIRED for an assertion made on options older than 5 minutes', async () => {
    const response = await assertion();
    clockOffsetMs += 301_000;
    try {
      expect(codeOf(await gql(LOGIN, { response }))).toBe(ErrorCode.PASSKEY_CHALLENGE_EXPIRED);
    } finally {
      clockOffsetMs -= 301_000;
    }
    // Not spent by the refusal, yet no use either: the clock back, it is still one assertion, once.
    expect(codeOf(await gql(LOGIN, { response }))).toBeUndefined();
  });

  it('refuses a registration challenge asked for by another session', async () => {
    const user = await gateway.createUser({ email: 'two-sessions@example.com', password: PASSWORD });
    const first = await passwordToken(user.email);
    const second = await passwordToken(user.email);
    const options = await gql('mutation { passkeyRegistrationOptions }', {}, first);
    const response = await create(options.data?.['passkeyRegistrationOptions']);
    const added = await gql('mutation($response: JSON!) { registerPasskey(response: $response) { id } }', { response }, second);
    expect(codeOf(added)).toBe(ErrorCode.PASSKEY_INVALID);
    // The authenticator keeps the credential it made although the gateway refused it. Left there, a later
    // discoverable sign-in could offer it instead of the registered passkey, and those tests would be refused for
    // an unknown credential rather than for what they attack.
    const orphan = Buffer.from((response as { id: string }).id, 'base64url').toString('base64');
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: orphan });
  });

  it('refuses an assertion made on an origin the gateway does not list', async () => {
    // Options (and their binding cookie) from the gateway, the ceremony on http://localhost:<other port>.
    const optionsResponse = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { passkeyLoginOptions }' }),
    });
    const cookie = optionsResponse.headers.getSetCookie().find((line) => line.startsWith(PASSKEY_COOKIE))?.split(';')[0] ?? '';
    const options = ((await optionsResponse.json()) as Answer).data?.['passkeyLoginOptions'];
    await page.goto(`http://localhost:${(otherOrigin.address() as AddressInfo).port}/`);
    await page.addScriptTag({ path: BROWSER_BUNDLE });
    const response = await get(options);
    await openGatewayPage();
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ query: LOGIN, variables: { response } }),
    });
    expect(codeOf((await answer.json()) as Answer)).toBe(ErrorCode.PASSKEY_INVALID);
  });

  it('refuses a passkey whose signature counter went back (a cloned authenticator), and logs it', async () => {
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const [credential] = credentials;
    if (!credential) throw new Error('expected the registered credential');
    expect(credential.signCount).toBeGreaterThan(1);
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential, signCount: 1 } });
    expect(codeOf(await gql(LOGIN, { response: await assertion() }))).toBe(ErrorCode.PASSKEY_INVALID);
    const refused = await rawCollection<mongo.Document>(gateway, 'audit_events').find({ type: 'passkey-refused' }).toArray();
    expect(refused).toHaveLength(1);
    // Put the counter ahead again: the same passkey works.
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential, signCount: credential.signCount + 10 } });
    expect(codeOf(await gql(LOGIN, { response: await assertion() }))).toBeUndefined();
  });

  it('refuses a removed passkey', async () => {
    const token = await passwordToken('passkey-owner@example.com');
    const listed = await gql('{ myPasskeys { id } }', {}, token);
    for (const passkey of listed.data?.['myPasskeys'] as Array<{ id: string }>) {
      const removed = await gql('mutation($id: ID!) { removePasskey(id: $id) }', { id: passkey.id }, token);
      expect(removed.data?.['removePasskey']).toBe(true);
    }
    expect(codeOf(await gql(LOGIN, { response: await assertion() }))).toBe(ErrorCode.PASSKEY_INVALID);
  });
});
