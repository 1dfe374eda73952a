import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { dataOf, graphql, loginForTokens, signUp, type Credentials } from '../client.js';
import type { GatewayProcess, GatewaySecrets, startGateway } from '../gateway.js';
import type { BenchOptions } from '../options.js';
import type { Problems } from '../problems.js';
import type { Goal, Row } from '../report.js';
import { sleep } from '../stats.js';

/** Figure 8: live subscriptions on one gateway: memory when idle, how fast a revocation ends them, event throughput. */
export interface SubscriptionsResult {
  readonly sessions: number;
  readonly idleSubscriptions: number;
  /** Resident memory the gateway grew by with the idle subscriptions open, per subscription (bytes). */
  readonly bytesPerSubscription: number;
  /** From the answer of the last of the sessions' logouts to the last of their connections closed (4403). */
  readonly revokeAllMs: number;
  readonly revokedConnections: number;
  readonly subscribers: number;
  readonly eventsPerSubscriber: number;
  /** Events delivered per second to the subscribers, through the gateway and straight from the upstream. */
  readonly gatewayEventsPerSecond: number;
  readonly directEventsPerSecond: number;
  readonly throughputRatio: number;
}

const SUBSCRIPTIONS_PER_SESSION = 10;
/**
 * Upstream subscriptions that never send: each holds a client WebSocket stream at the gateway and one upstream
 * connection. (mySessionEvents would make every logout an event for all 10,000, since they all watch one account.)
 */
const IDLE_QUERY = 'subscription { idle { n } }';

const FLOOD_SDL = `directive @public on FIELD_DEFINITION
type Query { ping: String @public }
type Subscription { flood(count: Int!): Tick! @public idle: Tick! @public }
type Tick { n: Int! at: Float! text: String! }
`;

/** A minimal upstream whose `flood(count)` sends that many small events as fast as its socket takes them. */
async function startFlood(): Promise<{ url: string; close(): Promise<void> }> {
  const schema = makeExecutableSchema({
    typeDefs: [FLOOD_SDL, 'type _Service { sdl: String! } extend type Query { _service: _Service! }'],
    resolvers: {
      Query: { ping: () => 'pong', _service: () => ({ sdl: FLOOD_SDL }) },
      Subscription: {
        // Never sends anything; ends when the subscriber leaves (an iterator by hand, so `return()` is prompt).
        idle: {
          subscribe: (): AsyncIterableIterator<unknown> => {
            let release: ((result: IteratorResult<unknown>) => void) | undefined;
            const iterator: AsyncIterableIterator<unknown> = {
              [Symbol.asyncIterator]: () => iterator,
              next: () => new Promise((resolve) => (release = resolve)),
              return: () => {
                release?.({ value: undefined, done: true });
                return Promise.resolve({ value: undefined, done: true });
              },
            };
            return iterator;
          },
        },
        flood: {
          subscribe: async function* (_: unknown, args: { count: number }) {
            for (let n = 0; n < args.count; n++) yield { flood: { n, at: Date.now(), text: 'an order status changed' } };
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

/** Resident memory of a process (Linux). */
function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] ? Number(match[1]) * 1024 : Number.NaN;
}

function wsClient(origin: string, token: string | undefined, onClosed?: (code: number) => void): Client {
  return createClient({
    url: `${origin.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: false,
    retryAttempts: 0,
    shouldRetry: () => false,
    onNonLazyError: () => undefined,
    ...(onClosed && { on: { closed: (event) => onClosed((event as { code: number }).code) } }),
  });
}

/** Delivers `count` events to each of `subscribers` subscriptions at `origin`; events per second over all of them. */
async function flood(origin: string, subscribers: number, count: number, problems: Problems): Promise<number> {
  const clients = Array.from({ length: subscribers }, () => wsClient(origin, undefined));
  const started = performance.now();
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve) => {
          let received = 0;
          client.subscribe(
            { query: `subscription { flood(count: ${count}) { n at text } }` },
            {
              next: (event) => {
                if (event.errors) problems.report('subscriptions', `flood event with errors: ${JSON.stringify(event.errors).slice(0, 200)}`);
                received += 1;
              },
              error: (error) => {
                problems.report('subscriptions', `flood failed: ${JSON.stringify(error).slice(0, 200)}`);
                resolve();
              },
              complete: () => {
                if (received !== count) problems.report('subscriptions', `flood delivered ${received} of ${count} events`);
                resolve();
              },
            },
          );
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.dispose()));
  return (subscribers * count) / seconds;
}

export async function measureSubscriptions(input: {
  database: { uriFor(name: string): string };
  secrets: GatewaySecrets;
  options: BenchOptions;
  problems: Problems;
  launch: (gatewayOptions: Parameters<typeof startGateway>[0]) => Promise<GatewayProcess>;
}): Promise<SubscriptionsResult> {
  const { options, problems } = input;
  const sessions = options.smoke ? 20 : 1_000;
  const subscribers = options.smoke ? 4 : 20;
  const eventsPerSubscriber = options.smoke ? 200 : 5_000;
  const upstream = await startFlood();
  try {
    const gateway = await input.launch({
      name: 'subscriptions',
      mongodbUri: input.database.uriFor('subscriptions'),
      secrets: input.secrets,
      env: {
        UPSTREAMS: `flood=${upstream.url}`,
        UPSTREAM_SCHEMA_POLL_SECONDS: '0',
        MAX_SESSIONS_PER_USER: '1000',
        SUBSCRIPTION_CONNECTIONS_PER_SESSION: '1000',
        SUBSCRIPTION_CONNECTIONS_PER_ADDRESS: '100000',
        // The flood runs as fast as the upstream can send; the cap is for clients that stop reading, not this.
        SUBSCRIPTION_MAX_BUFFERED_EVENTS: '100000',
      },
    });

    // One account, `sessions` sessions of it (one login each), one connection per session with 10 subscriptions.
    const user: Credentials = { email: 'live@example.com', password: 'a long enough bench password' };
    await signUp(gateway.origin, user);
    const tokens: string[] = [];
    // The login throttle lets 5 attempts of one account and address be in flight at once.
    for (let started = 0; started < sessions; started += 4) {
      const batch = await Promise.all(Array.from({ length: Math.min(4, sessions - started) }, () => loginForTokens(gateway.origin, user)));
      tokens.push(...batch.map((issued) => issued.accessToken));
    }
    await sleep(1_000);
    const before = residentBytes(gateway.pid);
    let closedCount = 0;
    let lastClosedAt = 0;
    const codes = new Map<number, number>();
    const clients = tokens.map((token) =>
      wsClient(gateway.origin, token, (code) => {
        closedCount += 1;
        lastClosedAt = performance.now();
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
    );
    for (const client of clients) {
      for (let index = 0; index < SUBSCRIPTIONS_PER_SESSION; index++) {
        client.subscribe({ query: IDLE_QUERY }, { next: () => undefined, error: () => undefined, complete: () => undefined });
      }
    }
    const idleSubscriptions = sessions * SUBSCRIPTIONS_PER_SESSION;
    // Every connection acknowledged and every subscription running: wait for the growth to settle.
    await sleep(options.smoke ? 1_000 : 5_000);
    const after = residentBytes(gateway.pid);
    const bytesPerSubscription = (after - before) / idleSubscriptions;

    // Every session logs out (8 at a time): the registry closes each connection once its logout has reached the
    // revocation view. Measured from the last logout's answer to the last close. (One logoutEverywhere of 1,000
    // sessions is one large database write that FerretDB, under the bench's load, answered with a timeout.)
    for (let next = 0; next < tokens.length; next += 8) {
      await Promise.all(
        tokens.slice(next, next + 8).map(async (token) => {
          const reply = await graphql(gateway.origin, 'mutation { logout }', { headers: { authorization: `Bearer ${token}` }, path: AUTH_PATH });
          dataOf(reply, 'subscriptions: logout');
        }),
      );
    }
    const revokedAt = performance.now();
    const giveUp = revokedAt + 10_000;
    while (closedCount < sessions && performance.now() < giveUp) await sleep(10);
    if (closedCount < sessions) problems.report('subscriptions', `${sessions - closedCount} of ${sessions} connections still open 10 s after the last logout`);
    if ((codes.get(4403) ?? 0) !== closedCount) problems.report('subscriptions', `close codes ${JSON.stringify([...codes])}, expected 4403`);
    const revokeAllMs = Math.max(0, lastClosedAt - revokedAt);
    await Promise.all(clients.map((client) => client.dispose()));

    // Event throughput: the same flood straight from the upstream, then through the gateway (a warm-up first).
    await flood(gateway.origin, 1, 100, problems);
    const directEventsPerSecond = await flood(upstream.url.replace(/\/graphql$/, ''), subscribers, eventsPerSubscriber, problems);
    const gatewayEventsPerSecond = await flood(gateway.origin, subscribers, eventsPerSubscriber, problems);
    await gateway.stop();
    return {
      sessions,
      idleSubscriptions,
      bytesPerSubscription,
      revokeAllMs,
      revokedConnections: closedCount,
      subscribers,
      eventsPerSubscriber,
      gatewayEventsPerSecond,
      directEventsPerSecond,
      throughputRatio: gatewayEventsPerSecond / directEventsPerSecond,
    };
  } finally {
    await upstream.close();
  }
}

/** The rows and goals of figure 8 for the report. */
export function reportSubscriptions(r: SubscriptionsResult): { rows: Row[]; goals: Goal[] } {
  const dec = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
  const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
  const goals: Goal[] = [
    { figure: '8. memory per idle subscription (bytes)', goal: '< 20480', value: r.bytesPerSubscription, met: r.bytesPerSubscription < 20 * 1024 },
    { figure: `8. ${r.sessions} sessions logged out → their subscriptions ended, after the last logout (ms)`, goal: '< 1000', value: r.revokeAllMs, met: r.revokeAllMs < 1000 },
    { figure: '8. event throughput through the gateway / upstream direct', goal: '≥ 0.80', value: r.throughputRatio, met: r.throughputRatio >= 0.8 },
  ];
  const yes = (index: number): string => (goals[index]?.met ? 'yes' : 'no');
  const rows: Row[] = [
    {
      figure: `8. Idle subscriptions: ${int(r.idleSubscriptions)} upstream ones on ${int(r.sessions)} client WebSocket connections (and as many upstream)`,
      value: `${dec(r.bytesPerSubscription / 1024, 1)} KiB/subscription`,
      reference: 'gateway RSS growth / subscriptions',
      target: 'goal < 20 KiB',
      met: yes(0),
    },
    {
      figure: `8. Revoking ${int(r.sessions)} sessions (a logout each) → last connection closed 4403, after the last logout`,
      value: `${dec(r.revokeAllMs, 0)} ms`,
      reference: `${int(r.revokedConnections)} connections closed`,
      target: 'goal < 1000 ms',
      met: yes(1),
    },
    {
      figure: `8. Event throughput, ${r.subscribers} subscribers × ${int(r.eventsPerSubscriber)} events through the gateway`,
      value: `${int(r.gatewayEventsPerSecond)} events/s`,
      reference: `upstream direct ${int(r.directEventsPerSecond)} events/s`,
      target: `${dec(r.throughputRatio, 3)} (goal ≥ 0.80)`,
      met: yes(2),
    },
  ];
  return { rows, goals };
}
