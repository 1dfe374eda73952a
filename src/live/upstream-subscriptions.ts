import { GraphQLError, print, type DocumentNode, type ExecutionResult } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Viewer } from '../auth/auth-service.js';
import type { UpstreamSubscriptionConfig } from '../config/subscriptions.js';
import { ErrorCode, GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { IdentityCache } from '../upstreams/identity-cache.js';
import { UpstreamError } from '../upstreams/executor.js';

export interface UpstreamSubscriber {
  /**
   * Opens the (already pruned) subscription on its upstream with the person's identity token, and yields the
   * upstream's events as they come. Ending the iterator ends the upstream's subscription; an upstream that fails
   * or cannot be reached yields one UPSTREAM_UNAVAILABLE event and ends.
   */
  open(request: {
    upstream: string;
    document: DocumentNode;
    operationName: string | null | undefined;
    variables: Record<string, unknown> | undefined;
    viewer: Viewer;
    /** The client connection it belongs to: its subscriptions with one identity share an upstream WebSocket. */
    owner: object;
  }): AsyncIterableIterator<ExecutionResult>;
}

export interface UpstreamSubscriberOptions {
  readonly upstreams: ReadonlyMap<string, UpstreamSubscriptionConfig>;
  readonly identity: IdentityCache;
  readonly logger: Logger;
}

/** An upstream WebSocket shared by one client connection's subscriptions that carry the same identity token. */
interface SharedSocket {
  readonly client: WsClient;
  /** Subscriptions open on it; the last to end disposes it. */
  users: number;
}

/**
 * One upstream WebSocket per client connection, upstream and identity token: graphql-transport-ws carries the
 * token once per connection (connection_init) and the token is per person and session, so a connection is never
 * shared between people, or between two tokens of one (roles narrowed, a token renewed), but the subscriptions a
 * client multiplexes on its one socket are multiplexed upstream too. (One upstream socket per subscription cost
 * 10,000 upstream WebSockets, about 30 KiB each, for 1,000 clients with ten subscriptions: docs/performance.md.)
 * Over SSE (distinct connections) each subscription has its own request. The client's cookie and token never
 * leave the gateway; events pass through without being executed again (the planner completes them only where a
 * field was denied at subscribe).
 */
export function createUpstreamSubscriber(options: UpstreamSubscriberOptions): UpstreamSubscriber {
  const { upstreams, identity, logger } = options;
  const sockets = new WeakMap<object, Map<string, SharedSocket>>();

  /** The shared socket for this owner, upstream and token, counting one more user of it. */
  function socketFor(owner: object, url: string, authorization: string | undefined): { client: WsClient; release: () => void } {
    let byKey = sockets.get(owner);
    if (!byKey) sockets.set(owner, (byKey = new Map()));
    const owned = byKey;
    const key = `${url}\n${authorization ?? ''}`;
    let shared = owned.get(key);
    if (!shared) {
      const created: SharedSocket = {
        client: createWsClient({
          url,
          webSocketImpl: WebSocket,
          connectionParams: authorization ? { authorization } : {},
          lazy: true,
          lazyCloseTimeout: 0,
          retryAttempts: 0,
          // A socket that closed is not used again: its subscriptions fail, and the next ones open a new one.
          on: { closed: () => void (owned.get(key) === created && owned.delete(key)) },
        }),
        users: 0,
      };
      shared = created;
      owned.set(key, shared);
    }
    const socket = shared;
    socket.users += 1;
    let released = false;
    return {
      client: socket.client,
      release: (): void => {
        if (released) return;
        released = true;
        socket.users -= 1;
        if (socket.users > 0) return;
        if (owned.get(key) === socket) owned.delete(key);
        // dispose() waits for a connection still being set up, and rejects with its close event when the
        // upstream then fails it: unread, that rejection would end the process.
        void Promise.resolve(socket.client.dispose()).catch(() => undefined);
      },
    };
  }

  return {
    open(request): AsyncIterableIterator<ExecutionResult> {
      let upstream: { iterator: AsyncIterableIterator<unknown>; dispose: () => void } | undefined;
      let ended = false;
      let failed = false;
      const close = (): void => {
        ended = true;
        const opened = upstream;
        upstream = undefined;
        if (!opened) return;
        void Promise.resolve(opened.iterator.return?.()).catch(() => undefined);
        opened.dispose();
      };
      const start = async (): Promise<{ iterator: AsyncIterableIterator<unknown>; dispose: () => void } | undefined> => {
        const settings = upstreams.get(request.upstream);
        if (!settings || settings.mode === 'off') return undefined;
        const { viewer } = request;
        const authorization =
          viewer.kind === 'user'
            ? await identity.authorizationFor({ userId: viewer.userId, sessionId: viewer.sessionId, roles: viewer.roles, notAfter: viewer.expiresAt }, request.upstream)
            : undefined;
        if (ended) return undefined;
        const payload = {
          query: print(request.document),
          ...(request.operationName && { operationName: request.operationName }),
          ...(request.variables && { variables: request.variables }),
        };
        if (settings.mode === 'ws') {
          const { client, release } = socketFor(request.owner, settings.url, authorization);
          return { iterator: client.iterate(payload), dispose: release };
        }
        const client = createSseClient({ url: settings.url, headers: authorization ? { authorization } : {}, retryAttempts: 0 });
        return { iterator: client.iterate(payload), dispose: () => client.dispose() };
      };
      const finished = (): IteratorResult<ExecutionResult> => ({ value: undefined, done: true });
      // By hand, not an async generator: a generator awaiting the upstream's next event would hold `return()`
      // back until that event came, and a quiet upstream subscription would outlive its client.
      const iterator: AsyncIterableIterator<ExecutionResult> = {
        [Symbol.asyncIterator]: () => iterator,
        async next(): Promise<IteratorResult<ExecutionResult>> {
          if (ended) return finished();
          try {
            if (!upstream) {
              upstream = await start();
              if (!upstream) {
                if (ended) return finished();
                ended = true;
                return { value: unavailable(), done: false };
              }
            }
            const step = await upstream.iterator.next();
            if (step.done || ended) {
              close();
              return finished();
            }
            return { value: revive(request.upstream, step.value as ExecutionResult), done: false };
          } catch (error) {
            if (ended || failed) return finished();
            failed = true;
            logger.warn({ upstream: request.upstream, err: describe(error) }, `upstream ${request.upstream} subscription failed`);
            close();
            return { value: unavailable(), done: false };
          }
        },
        return(): Promise<IteratorResult<ExecutionResult>> {
          close();
          return Promise.resolve(finished());
        },
      };
      return iterator;
    },
  };
}

/** The upstream's errors arrive as JSON; as UpstreamErrors they go through format-error like a query's do. */
function revive(upstream: string, event: ExecutionResult): ExecutionResult {
  if (!event.errors) return event;
  const errors = (event.errors as unknown as Array<{ message?: unknown; path?: unknown; extensions?: { code?: unknown } }>).map((error) => {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : undefined;
    const original = new UpstreamError(upstream, typeof error.message === 'string' ? error.message : 'upstream error', code);
    return new GraphQLError(original.message, { ...(Array.isArray(error.path) && { path: error.path as string[] }), originalError: original });
  });
  return { ...event, errors };
}

function unavailable(): ExecutionResult {
  const original = new GatewayError(ErrorCode.UPSTREAM_UNAVAILABLE);
  return { data: null, errors: [new GraphQLError(original.message, { originalError: original, extensions: { code: ErrorCode.UPSTREAM_UNAVAILABLE } })] };
}

/** A close event or an error, without anything the upstream sent (it may echo the identity token). */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'code' in error) return `closed ${String((error as { code: unknown }).code)}`;
  return 'unknown failure';
}
