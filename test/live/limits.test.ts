/** The limits of live connections, each against a real gateway and real clients. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { useServer } from 'graphql-ws/use/ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { eventually, signIn } from '../gateway/support.js';
import { liveClient, subscribe } from './support.js';

const FLOOD_SDL = `directive @public on FIELD_DEFINITION
type Query { ping: String @public }
type Subscription { flood(count: Int!, size: Int!): String! @public }
`;

/** An upstream whose `flood` sends `count` events of `size` characters as fast as its socket takes them. */
async function startFlood(): Promise<{ url: string; close(): Promise<void> }> {
  const schema = makeExecutableSchema({
    typeDefs: [FLOOD_SDL, 'type _Service { sdl: String! } extend type Query { _service: _Service! }'],
    resolvers: {
      Query: { ping: () => 'pong', _service: () => ({ sdl: FLOOD_SDL }) },
      Subscription: {
        flood: {
          subscribe: async function* (_: unknown, args: { count: number; size: number }) {
            const text = 'x'.repeat(args.size);
            for (let index = 0; index < args.count; index++) yield { flood: text };
          },
        },
      },
    },
  });
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const query = String((JSON.parse(body || '{}') as { query?: string }).query);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(query.includes('_service') ? { data: { _service: { sdl: FLOOD_SDL } } } : { data: { ping: 'pong' } }));
    });
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const ws = useServer({ schema }, wss);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    async close(): Promise<void> {
      await ws.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function rawSocket(gatewayUrl: string): Promise<WebSocket> {
  const socket = new WebSocket(`${gatewayUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`refused ${response.statusCode}`)));
  });
}

describe('limits of live connections', () => {
  let flood: Awaited<ReturnType<typeof startFlood>>;
  let gateway: TestGateway;

  beforeAll(async () => {
    flood = await startFlood();
    gateway = await startGateway({
      config: testConfig({
        UPSTREAMS: `flood=${flood.url}`,
        SUBSCRIPTION_CONNECTIONS_PER_SESSION: '1',
        SUBSCRIPTION_CONNECTIONS_PER_ADDRESS: '3',
        SUBSCRIPTION_MAX_BUFFERED_EVENTS: '8',
        SUBSCRIPTION_KEEPALIVE_SECONDS: '1',
      }),
    });
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await flood?.close();
  });

  it('drops a client that stops reading once its queue passes the cap, and memory does not grow', async () => {
    const socket = await rawSocket(gateway.url);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { flood(count: 5000, size: 16384) }' } }));
    // Stops reading: the kernel buffers fill, the gateway's sends stall, its queue for this client fills.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const heapBefore = process.memoryUsage().heapUsed;
    await eventually(() => gateway.app.live.registry.counts().connections === 0, 20_000);
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    // 1008 when the close frame gets through the backlog; 1006 when the socket was cut after the grace.
    expect([1008, 1006]).toContain(await closed);
    // 5000 events of 16 KiB would be 80 MB; the queue held at most 8 of them.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(40 * 1024 * 1024);
  });

  it('lets a session hold SUBSCRIPTION_CONNECTIONS_PER_SESSION connections, closing one more with 4429', async () => {
    const token = await signIn(gateway.url, gateway.createUser.bind(gateway), 'lu@example.com', ['USER']);
    const first = liveClient(gateway.url, { token });
    subscribe(first, 'subscription { mySessionEvents { kind } }');
    await eventually(() => gateway.app.live.registry.counts().connections === 1);
    const second = liveClient(gateway.url, { token });
    expect((await second.closed).code).toBe(4429);
    await first.dispose();
  });

  it('refuses an upgrade past SUBSCRIPTION_CONNECTIONS_PER_ADDRESS with 429', async () => {
    await eventually(() => gateway.app.live.registry.counts().connections === 0);
    const held = await Promise.all([rawSocket(gateway.url), rawSocket(gateway.url), rawSocket(gateway.url)]);
    await expect(rawSocket(gateway.url)).rejects.toThrow('refused 429');
    for (const socket of held) socket.close();
    // Closing gives the address its places back.
    await eventually(async () => {
      const again = await rawSocket(gateway.url).catch(() => undefined);
      again?.terminate();
      return again !== undefined;
    });
  });

  it('drops a peer that stops answering pings', async () => {
    await eventually(() => gateway.app.live.registry.counts().connections === 0);
    const socket = await rawSocket(gateway.url);
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    await eventually(() => gateway.app.live.registry.counts().connections === 1);
    // A dead peer: it reads nothing more, so it answers no ping.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await eventually(() => gateway.app.live.registry.counts().connections === 0, 5_000);
    socket.terminate();
  });

  it('closes every live connection with 1012 (reconnect) on a graceful shutdown', async () => {
    const other = await startGateway({ config: testConfig() });
    const token = await signIn(other.url, other.createUser.bind(other), 'mo@example.com', ['USER']);
    const live = liveClient(other.url, { token });
    subscribe(live, 'subscription { mySessionEvents { kind } }');
    await eventually(() => other.app.live.registry.counts().operations === 1);
    await other.stop();
    expect((await live.closed).code).toBe(1012);
  });

  it('closes a connection with 4403 when its session reaches its absolute lifetime, token expiry alone not', async () => {
    let offsetMs = 0;
    const clocked = await startGateway({ config: testConfig({ SESSION_MAX_AGE_SECONDS: '900', REFRESH_TOKEN_TTL_SECONDS: '600', ACCESS_TOKEN_TTL_SECONDS: '60' }), app: { now: () => Date.now() + offsetMs } });
    try {
      const token = await signIn(clocked.url, clocked.createUser.bind(clocked), 'ned@example.com', ['USER']);
      const live = liveClient(clocked.url, { token });
      subscribe(live, 'subscription { mySessionEvents { kind } }');
      await eventually(() => clocked.app.live.registry.counts().operations === 1);
      // Past the access token's expiry, within the session's lifetime: the subscription goes on.
      offsetMs = 120_000;
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(clocked.app.live.registry.counts().operations).toBe(1);
      // Past the session's absolute end.
      offsetMs = 901_000;
      expect((await live.closed).code).toBe(4403);
    } finally {
      await clocked.stop();
    }
  });
});
