import { GraphQLError, print, type DocumentNode, type ExecutionResult } from 'graphql';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient } from 'graphql-ws';
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
  open(request: { upstream: string; document: DocumentNode; operationName: string | null | undefined; variables: Record<string, unknown> | undefined; viewer: Viewer }): AsyncIterableIterator<ExecutionResult>;
}

export interface UpstreamSubscriberOptions {
  readonly upstreams: ReadonlyMap<string, UpstreamSubscriptionConfig>;
  readonly identity: IdentityCache;
  readonly logger: Logger;
}

/**
 * One upstream connection per client subscription: the identity token is per person and session, and
 * graphql-transport-ws carries it once per connection (connection_init), so connections cannot be shared between
 * people. The client's cookie and token never leave the gateway; events pass through without being executed
 * again (the planner completes them only where a field was denied at subscribe).
 */
export function createUpstreamSubscriber(options: UpstreamSubscriberOptions): UpstreamSubscriber {
  const { upstreams, identity, logger } = options;
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
          const client = createWsClient({
            url: settings.url,
            webSocketImpl: WebSocket,
            connectionParams: authorization ? { authorization } : {},
            lazy: true,
            lazyCloseTimeout: 0,
            retryAttempts: 0,
          });
          // dispose() waits for a connection still being set up, and rejects with its close event when the
          // upstream then fails it: unread, that rejection would end the process.
          return { iterator: client.iterate(payload), dispose: () => void Promise.resolve(client.dispose()).catch(() => undefined) };
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
