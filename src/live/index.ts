/**
 * Live operations: subscriptions (and queries and mutations) over WebSocket at /graphql and SSE at
 * /graphql/stream, each bound to the session it was opened with. This file is the part's public surface.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { GraphQLFormattedError, GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import proxyaddr from 'proxy-addr';
import type { AuthService } from '../auth/auth-service.js';
import type { RevocationView } from '../auth/revocation-view.js';
import type { AuthorizationMode } from '../config/config.js';
import type { SubscriptionsConfig } from '../config/subscriptions.js';
import type { GatewayContext } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { Composition } from '../upstreams/compose.js';
import type { GatewayExecution } from '../upstreams/execute.js';
import type { IdentityCache } from '../upstreams/identity-cache.js';
import { createLiveOperations } from './operations.js';
import { createLiveRegistry, type LiveRegistry } from './registry.js';
import { createSessionEventFeed } from './session-events.js';
import type { LiveConnection } from './types.js';
import { createUpstreamSubscriber } from './upstream-subscriptions.js';
import { createSseTransport, type SseHandler } from './sse-transport.js';
import { attachWsTransport } from './ws-transport.js';

export { LiveClose } from './types.js';
export type { SseHandler } from './sse-transport.js';

export interface LiveDeps {
  readonly httpServer: Server;
  readonly auth: AuthService;
  /** Provider sign-in, for the context's `signInProviders` and `unlinkSignInProvider` over a socket. */
  readonly oidc: GatewayContext['oidc'];
  readonly accessTokens: AccessTokens;
  readonly view: RevocationView;
  readonly ownSchema: GraphQLSchema;
  readonly gateway: { readonly current: () => Composition; readonly execution: GatewayExecution; readonly mode: AuthorizationMode; readonly identity: IdentityCache } | undefined;
  readonly settings: SubscriptionsConfig;
  readonly allowedOrigins: readonly string[];
  readonly trustedProxies: readonly string[];
  readonly parseOptions: ParseOptions;
  readonly validationRules: readonly ValidationRule[];
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  readonly production: boolean;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface Live {
  readonly registry: LiveRegistry;
  /** GraphQL over SSE: the HTTP layer mounts it at /graphql/stream. */
  readonly sse: SseHandler;
  /** Closes every live connection with 1012 (reconnect) and stops listening for upgrades. */
  stop(): Promise<void>;
}

const MAX_USER_AGENT = 256;

export function createLive(deps: LiveDeps): Live {
  const { auth, logger } = deps;
  const registry = createLiveRegistry({
    view: deps.view,
    logger,
    now: deps.now,
    connectionsPerSession: deps.settings.connectionsPerSession,
    connectionsPerAddress: deps.settings.connectionsPerAddress,
  });
  const feed = createSessionEventFeed({ auth, logger, now: deps.now });
  const upstreams = deps.gateway ? createUpstreamSubscriber({ upstreams: deps.settings.upstreams, identity: deps.gateway.identity, logger }) : undefined;
  const operations = createLiveOperations({
    ownSchema: deps.ownSchema,
    gateway: deps.gateway,
    upstreams,
    parseOptions: deps.parseOptions,
    validationRules: deps.validationRules,
    maxBuffered: deps.settings.maxBufferedEvents,
    logger,
  });
  const trust = deps.trustedProxies.length > 0 ? proxyaddr.compile([...deps.trustedProxies]) : (): boolean => false;
  const addressOf = (request: IncomingMessage): string => proxyaddr(request, trust);
  const contextFor = (connection: LiveConnection, request: IncomingMessage): GatewayContext => {
    const userAgent = request.headers['user-agent'];
    return {
      endpoint: 'api',
      viewer: connection.viewer,
      refreshCookie: undefined,
      refreshCookieShadowed: false,
      auth,
      oidc: deps.oidc,
      client: { userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : null, address: connection.address },
      // A socket cannot set cookies: sign in and refresh over HTTP at /graphql/auth.
      transport: { setSessionCookies: () => undefined, clearSessionCookies: () => undefined },
      sessionEvents: (viewer) => feed.subscribe(viewer),
    };
  };
  const ws = attachWsTransport(deps.httpServer, {
    auth,
    accessTokens: deps.accessTokens,
    registry,
    operations,
    settings: deps.settings,
    allowedOrigins: deps.allowedOrigins,
    addressOf,
    contextFor,
    formatError: deps.formatError,
    production: deps.production,
    logger,
  });
  const sse = createSseTransport({
    auth,
    accessTokens: deps.accessTokens,
    registry,
    operations,
    allowedOrigins: deps.allowedOrigins,
    addressOf,
    contextFor,
    formatError: deps.formatError,
  });
  return {
    registry,
    sse,
    async stop(): Promise<void> {
      registry.stop();
      feed.stop();
      await ws.close();
    },
  };
}
