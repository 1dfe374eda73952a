import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Config } from '../../src/config/config.js';
import { ACCESS_COOKIE, AUTH_PATH } from '../../src/http/cookies.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { send, signIn } from '../gateway/support.js';
import { liveClient, login, sleep, subscribe } from './support.js';

const EVENTS = 'subscription { mySessionEvents { kind sessionId } }';

async function logout(gatewayUrl: string, token: string): Promise<void> {
  const response = await fetch(`${gatewayUrl}${AUTH_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: 'mutation { logout }' }),
  });
  expect(((await response.json()) as { data?: { logout?: boolean } }).data?.logout).toBe(true);
}


/** Opens a raw upgrade and reports the HTTP status it was refused with, or 101. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.on('error', () => undefined);
  });
}

describe('GraphQL over WebSocket, bound to the session, across two instances on one database', () => {
  let config: Config;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    config = testConfig({ ALLOWED_ORIGINS: 'https://app.example.com', SUBSCRIPTIONS_PER_CONNECTION: '2' });
    a = await startGateway({ config });
    b = await startGateway({ config });
  });
  afterAll(async () => {
    await a?.app.stop();
    await b?.stop();
  });

  it('closes the subscription held on instance B with 4403 within a second of a logout on instance A', async () => {
    const token = await signIn(a.url, a.createUser.bind(a), 'ada@example.com', ['USER']);
    const live = liveClient(b.url, { token });
    const events = subscribe(live, EVENTS);
    // Control: the connection is up and the subscription runs (a sign-in elsewhere is reported to it).
    await sleep(300);
    const other = await login(a.url, 'ada@example.com');
    const created = await events.next();
    expect(created.errors).toBeUndefined();
    expect(created.data?.['mySessionEvents']).toMatchObject({ kind: 'CREATED' });

    await logout(a.url, token);
    const loggedOutAt = performance.now();
    const { code, at } = await live.closed;
    expect(code).toBe(4403);
    expect(at - loggedOutAt).toBeLessThan(1_000);
    await logout(a.url, other);
  });

  it('reports another session ending to a subscriber on the other instance', async () => {
    await a.createUser({ email: 'ben@example.com', password: 'correct horse battery staple' });
    const mine = await login(a.url, 'ben@example.com');
    const other = await login(a.url, 'ben@example.com');
    const live = liveClient(b.url, { token: mine });
    const events = subscribe(live, EVENTS);
    await sleep(700);
    await logout(a.url, other);
    const ended = await events.next();
    expect(ended.data?.['mySessionEvents']).toMatchObject({ kind: 'ENDED' });
    await live.dispose();
  });

  it('closes with 4401 before any operation when the token in connection_init is not valid', async () => {
    const live = liveClient(b.url, { params: { authorization: 'Bearer not-a-token' } });
    const events = subscribe(live, EVENTS);
    expect((await live.closed).code).toBe(4401);
    expect(events.events).toHaveLength(0);
  });

  it('refuses an upgrade from a foreign Origin, cookie or not, and accepts the gateway’s own and allowed ones', async () => {
    const token = await signIn(a.url, a.createUser.bind(a), 'cy@example.com', ['USER']);
    const cookie = `${ACCESS_COOKIE}=${token}`;
    expect(await upgradeStatus(b.url, { origin: 'https://evil.example', cookie })).toBe(403);
    expect(await upgradeStatus(b.url, { origin: 'null', cookie })).toBe(403);
    expect(await upgradeStatus(b.url, { origin: 'https://app.example.com', cookie })).toBe(101);
    expect(await upgradeStatus(b.url, { origin: b.url, cookie })).toBe(101);
  });

  it('authenticates a browser by the access cookie on the upgrade from an allowed origin', async () => {
    const token = await signIn(a.url, a.createUser.bind(a), 'dee@example.com', ['USER']);
    const live = liveClient(b.url, { headers: { origin: 'https://app.example.com', cookie: `${ACCESS_COOKIE}=${token}` } });
    const answer = await new Promise<unknown>((resolve, reject) => {
      live.client.subscribe({ query: '{ me { email } }' }, { next: resolve, error: reject, complete: () => undefined });
    });
    expect(answer).toEqual({ data: { me: { email: 'dee@example.com' } } });
    await live.dispose();
  });

  it('lets a guest connect but not subscribe to a guarded field', async () => {
    const live = liveClient(b.url);
    const events = subscribe(live, EVENTS);
    const first = await events.next();
    expect(first.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    await live.dispose();
  });

  it('applies the hardening limits (aliases) to subscription documents and caps operations per connection', async () => {
    const token = await signIn(a.url, a.createUser.bind(a), 'eve@example.com', ['USER']);
    const live = liveClient(b.url, { token });
    const aliases = Array.from({ length: 20 }, (_, index) => `a${index}: __typename`).join(' ');
    const refused = subscribe(live, `subscription { mySessionEvents { ${aliases} } }`);
    const refusal = await refused.ended;
    expect(refusal.completed).toBe(false);
    expect((refusal.error as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const one = subscribe(live, EVENTS);
    const two = subscribe(live, EVENTS);
    const three = subscribe(live, EVENTS);
    const third = await three.ended;
    expect((third.error as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code).toBe('TOO_MANY_SUBSCRIPTIONS');
    one.stop();
    two.stop();
    await live.dispose();
  });

  it('closes a connection that sends no connection_init within 3 s (4408), and one sending an oversized message (1009)', async () => {
    const silent = new WebSocket(`${b.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    const silentCode = await new Promise<number>((resolve) => silent.on('close', (code) => resolve(code)));
    expect(silentCode).toBe(4408);

    const loud = new WebSocket(`${b.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => loud.on('open', resolve));
    loud.send(JSON.stringify({ type: 'connection_init', payload: { padding: 'x'.repeat(70 * 1024) } }));
    const loudCode = await new Promise<number>((resolve) => loud.on('close', (code) => resolve(code)));
    expect(loudCode).toBe(1009);
  });
});
