import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startUpstreamService, type UpstreamService } from '../../examples/upstream-service.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { eventually, send } from '../gateway/support.js';
import { identityKeyOf } from '../upstream/support.js';

export interface LiveClient {
  readonly client: Client;
  /** Resolves with the close code once the connection closes. */
  readonly closed: Promise<{ code: number; at: number }>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client over ws, with headers on the upgrade (Cookie, Origin) and an optional connection_init payload. */
export function liveClient(gatewayUrl: string, options: { token?: string; headers?: Record<string, string>; params?: Record<string, unknown> } = {}): LiveClient {
  const headers = options.headers ?? {};
  class HeaderWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  let resolveClosed: (value: { code: number; at: number }) => void = () => undefined;
  const closed = new Promise<{ code: number; at: number }>((resolve) => {
    resolveClosed = resolve;
  });
  const client = createClient({
    url: `${gatewayUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: HeaderWebSocket,
    connectionParams: options.params ?? (options.token ? { authorization: `Bearer ${options.token}` } : {}),
    retryAttempts: 0,
    shouldRetry: () => false,
    lazy: false,
    on: { closed: (event) => resolveClosed({ code: (event as { code: number }).code, at: performance.now() }) },
    onNonLazyError: () => undefined,
  });
  return { client, closed, dispose: () => Promise.resolve(client.dispose()) };
}

export interface Subscription {
  readonly events: FormattedExecutionResult<Record<string, unknown>, unknown>[];
  /** Resolves when the server completes it (true), or with the error (a close event or GraphQL errors). */
  readonly ended: Promise<{ completed: boolean; error?: unknown; at: number }>;
  next(): Promise<FormattedExecutionResult<Record<string, unknown>, unknown>>;
  stop(): void;
}

export function subscribe(live: LiveClient, query: string, variables?: Record<string, unknown>): Subscription {
  const events: FormattedExecutionResult<Record<string, unknown>, unknown>[] = [];
  const waiters: Array<(event: FormattedExecutionResult<Record<string, unknown>, unknown>) => void> = [];
  let resolveEnded: (value: { completed: boolean; error?: unknown; at: number }) => void = () => undefined;
  const ended = new Promise<{ completed: boolean; error?: unknown; at: number }>((resolve) => {
    resolveEnded = resolve;
  });
  const stop = live.client.subscribe(
    { query, ...(variables && { variables }) },
    {
      next: (event) => {
        events.push(event);
        waiters.shift()?.(event);
      },
      error: (error) => resolveEnded({ completed: false, error, at: performance.now() }),
      complete: () => resolveEnded({ completed: true, at: performance.now() }),
    },
  );
  let taken = 0;
  return {
    events,
    ended,
    next(): Promise<FormattedExecutionResult<Record<string, unknown>, unknown>> {
      const index = taken++;
      const ready = events[index];
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => waiters.push(resolve));
    },
    stop,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const PASSWORD = 'correct horse battery staple';

/** Signs in with `delivery: BODY` and answers the access token. */
export async function login(gatewayUrl: string, email: string): Promise<string> {
  const answer = await send(gatewayUrl, 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
    variables: { email, password: PASSWORD },
  });
  const token = (answer.body.data?.['login'] as { accessToken?: string } | undefined)?.accessToken;
  if (!token) throw new Error(JSON.stringify(answer.body));
  return token;
}

export interface TwoInstances {
  readonly shop: UpstreamService;
  readonly a: TestGateway;
  readonly b: TestGateway;
  stop(): Promise<void>;
}

/**
 * The example shop (graphql-ws on ws) behind two gateway instances on one database, both ready: what a
 * revocation on one instance must reach on the other. `env` adds settings to both.
 */
export async function startTwoInstances(env: Readonly<Record<string, string>> = {}): Promise<TwoInstances> {
  const secret = randomSecret();
  const shop = await startUpstreamService({ gateway: { secret: await identityKeyOf(secret, 'shop') }, audience: 'shop' });
  const config = testConfig({ JWT_SECRET: secret, UPSTREAMS: `shop=${shop.url}`, ...env });
  const a = await startGateway({ config });
  const b = await startGateway({ config });
  for (const gateway of [a, b]) await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
  return {
    shop,
    a,
    b,
    async stop(): Promise<void> {
      // A first, without dropping the database B still uses; B's stop drops it.
      await a.app.stop();
      await b.stop();
      await shop.stop();
    },
  };
}
