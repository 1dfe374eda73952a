import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { mongo } from 'mongoose';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createApp, type App, type AppOptions } from '../../src/app.js';
import type { Role } from '../../src/auth/roles.js';
import type { Config } from '../../src/config/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { testConfig } from './config.js';

export interface GraphQLResponse<TData> {
  readonly status: number;
  readonly body: { data?: TData | null; errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }> };
  readonly headers: Headers;
  readonly setCookies: string[];
}

export interface RequestOptions {
  readonly path?: '/graphql' | '/graphql/auth';
  readonly cookie?: string;
  readonly headers?: Record<string, string>;
}

export interface TestGateway {
  readonly url: string;
  readonly app: App;
  readonly config: Config;
  request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    options?: RequestOptions,
  ): Promise<GraphQLResponse<TData>>;
  createUser(user: { email: string; password: string; roles?: Role[] }): Promise<{ id: string; email: string }>;
  stop(): Promise<void>;
}

/**
 * The real gateway, in-process, listening on a free loopback port, with a database of its own on the run's
 * server. `stop` drops that database.
 */
export async function startGateway(options: { config?: Config; app?: AppOptions; logger?: Logger; port?: number } = {}): Promise<TestGateway> {
  const config = options.config ?? testConfig();
  const app = await createApp(config, options.logger ?? createLogger('silent'), options.app ?? {});
  await new Promise<void>((resolve) => app.httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = app.httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    app,
    config,
    async request<TData, TVariables>(
      document: TypedDocumentNode<TData, TVariables>,
      variables: TVariables,
      requestOptions: RequestOptions = {},
    ): Promise<GraphQLResponse<TData>> {
      const response = await fetch(`${url}${requestOptions.path ?? '/graphql'}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(requestOptions.cookie !== undefined && { cookie: requestOptions.cookie }),
          ...requestOptions.headers,
        },
        body: JSON.stringify({ query: print(document), variables }),
      });
      return {
        status: response.status,
        body: (await response.json()) as GraphQLResponse<TData>['body'],
        headers: response.headers,
        setCookies: response.headers.getSetCookie(),
      };
    },
    async createUser(user): Promise<{ id: string; email: string }> {
      const created = await app.auth.createUser({ email: user.email, password: user.password, roles: user.roles ?? [] });
      return { id: created.id, email: created.email };
    },
    async stop(): Promise<void> {
      // Mail still being sent writes to the database: let it finish before the database goes.
      await app.accounts.drain();
      await app.database.connection.dropDatabase();
      await app.stop();
    },
  };
}

/**
 * A loopback port that was free a moment ago, for a gateway whose configuration must name its own address
 * (PUBLIC_URL) before it listens.
 */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `name=value` for a Cookie header, from one Set-Cookie line. */
export function cookiePair(setCookie: string | undefined): string {
  if (!setCookie) throw new Error('expected a Set-Cookie header');
  return setCookie.split(';')[0] ?? '';
}

/** The attributes of a Set-Cookie line, lower-cased names, for assertions. */
export function cookieAttributes(setCookie: string): Record<string, string | true> {
  const [, ...parts] = setCookie.split(';').map((part) => part.trim());
  return Object.fromEntries(parts.map((part) => {
    const [name = '', ...value] = part.split('=');
    return [name.toLowerCase(), value.length > 0 ? value.join('=') : true];
  }));
}

/**
 * A collection of the gateway's database, read and written directly: for tests that set up states no operation
 * produces (a half-done revoke, a forged record) or check what was stored.
 */
export function rawCollection<TSchema extends mongo.Document = Record<string, unknown> & { _id: string }>(gateway: TestGateway, name: string): mongo.Collection<TSchema> {
  const db = gateway.app.database.connection.db;
  if (!db) throw new Error('expected a connected database');
  return db.collection<TSchema>(name);
}
