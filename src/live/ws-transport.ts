import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { AuthService } from '../auth/auth-service.js';
import type { SubscriptionsConfig } from '../config/subscriptions.js';
import { ErrorCode, GatewayError } from '../errors.js';
import type { GatewayContext } from '../graphql/context.js';
import { API_PATH, readAccessToken } from '../http/cookies.js';
import type { Logger } from '../logger.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { LiveOperations, PreparedOperation } from './operations.js';
import type { LiveRegistry } from './registry.js';
import { LiveClose, type LiveConnection } from './types.js';
import { bearer, identify, originAllowed } from './who.js';

export interface WsTransportDeps {
  readonly auth: AuthService;
  readonly accessTokens: AccessTokens;
  readonly registry: LiveRegistry;
  readonly operations: LiveOperations;
  readonly settings: SubscriptionsConfig;
  readonly allowedOrigins: readonly string[];
  /** The client's address for an upgrade request (trusted proxies applied as for HTTP). */
  readonly addressOf: (request: IncomingMessage) => string;
  readonly contextFor: (connection: LiveConnection, request: IncomingMessage) => GatewayContext;
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  readonly production: boolean;
  readonly logger: Logger;
}

/** What this transport keeps on graphql-ws's per-connection context, beside its socket and upgrade request. */
type Extra = { connection: LiveConnection };

/** How long a closing peer has to acknowledge the close frame before its socket is cut. */
const CLOSE_GRACE_MS = 1000;

interface LiveArgs extends ExecutionArgs {
  readonly contextValue: GatewayContext & { readonly liveOperation: { prepared: PreparedOperation; connection: LiveConnection; id: string } };
}

/**
 * GraphQL over WebSocket (graphql-transport-ws, the graphql-ws library on ws) on the /graphql path of the app's
 * own HTTP server. The upgrade is refused (403) from a foreign Origin and (429) past the per-address limit;
 * connection_init must come within 3 s and say who is connecting (the cookie of the upgrade, or
 * `{ authorization: "Bearer …" }`); an invalid token closes 4401 before any operation runs.
 */
export function attachWsTransport(httpServer: Server, deps: WsTransportDeps): { close(): Promise<void> } {
  const { registry, operations, settings, logger } = deps;
  const allowed = new Set(deps.allowedOrigins);
  const wss = new WebSocketServer({ noServer: true, maxPayload: settings.maxMessageBytes });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== API_PATH) return refuse(socket, 404, 'Not Found');
    if (!originAllowed(request.headers, allowed)) return refuse(socket, 403, 'Forbidden');
    const address = deps.addressOf(request);
    if (!registry.claimAddress(address)) return refuse(socket, 429, 'Too Many Requests');
    wss.handleUpgrade(request, socket, head, (ws) => {
      ws.once('close', () => registry.releaseAddress(address));
      wss.emit('connection', ws, request, address);
    });
  };
  httpServer.on('upgrade', onUpgrade);

  const server = useServer<Record<string, unknown> | undefined, Extra>(
    {
      connectionInitWaitTimeout: settings.initTimeoutMs,
      isProd: deps.production,
      async onConnect(ctx) {
        const { socket, request } = ctx.extra;
        const params = ctx.connectionParams ?? {};
        const token = 'authorization' in params ? bearer(params['authorization']) : readAccessToken(request.headers);
        const identity = await identify(deps.auth, deps.accessTokens, token);
        if (identity.viewer.kind === 'rejected') {
          socket.close(LiveClose.UNAUTHORIZED, 'Unauthorized');
          return false;
        }
        if (identity.viewer.kind === 'unavailable') {
          socket.close(LiveClose.UNAVAILABLE, 'Try again later');
          return false;
        }
        const connection: LiveConnection = {
          address: deps.addressOf(request),
          identity,
          viewer: identity.viewer,
          operations: new Map(),
          close(code) {
            for (const operation of connection.operations.values()) operation.end();
            registry.remove(connection);
            socket.close(code, reasonOf(code));
            // A peer that reads nothing (a slow or dead client) never takes the close frame: cut it after a grace.
            setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
          },
        };
        if (!registry.add(connection)) {
          socket.close(CloseCode.TooManyInitialisationRequests, 'Too many connections for this session');
          return false;
        }
        ctx.extra.connection = connection;
        return true;
      },
      onClose(ctx) {
        const connection = ctx.extra.connection;
        if (!connection) return;
        for (const operation of connection.operations.values()) operation.end();
        registry.remove(connection);
      },
      onSubscribe(ctx, id, payload) {
        const connection = ctx.extra.connection;
        if (!connection) return [new GraphQLError('Unauthorized')];
        if (Object.keys(ctx.subscriptions).length > settings.perConnection) {
          const original = new GatewayError(ErrorCode.TOO_MANY_SUBSCRIPTIONS);
          return [new GraphQLError(original.message, { originalError: original, extensions: { code: original.code } })];
        }
        const prepared = operations.prepare({ query: payload.query, operationName: payload.operationName, variables: payload.variables });
        if (!('document' in prepared)) return prepared;
        const context = { ...deps.contextFor(connection, ctx.extra.request), liveOperation: { prepared, connection, id } };
        const args: LiveArgs = { schema: prepared.schema, document: prepared.document, operationName: prepared.operationName, variableValues: prepared.variables, contextValue: context };
        return args;
      },
      execute: (args) => runLive(args as LiveArgs),
      subscribe: (args) => runLive(args as LiveArgs),
      onNext(_ctx, _id, _payload, _args, result) {
        if (!result.errors) return;
        return { ...result, errors: result.errors.map((error) => deps.formatError(formatted(error), error)) } as FormattedExecutionResult;
      },
      onError(_ctx, _id, _payload, errors) {
        return errors.map((error) => deps.formatError(formatted(error), error));
      },
    },
    wss,
    settings.keepAliveMs,
  );

  function runLive(args: LiveArgs): ReturnType<LiveOperations['run']> {
    const { prepared, connection, id } = args.contextValue.liveOperation;
    // The viewer as the registry keeps it now (roles narrowed since connect included).
    const context: GatewayContext = { ...args.contextValue, viewer: connection.viewer };
    return operations.run(prepared, connection, id, context);
  }

  logger.debug('GraphQL over WebSocket at /graphql');
  return {
    async close(): Promise<void> {
      httpServer.off('upgrade', onUpgrade);
      for (const client of wss.clients) client.close(LiveClose.RESTART, reasonOf(LiveClose.RESTART));
      await server.dispose();
    },
  };
}

function formatted(error: GraphQLError): GraphQLFormattedError {
  return error instanceof GraphQLError ? error.toJSON() : { message: String((error as { message?: unknown }).message) };
}

function reasonOf(code: number): string {
  switch (code) {
    case LiveClose.REVOKED:
      return 'Session ended';
    case LiveClose.SLOW_CONSUMER:
      return 'Client too slow';
    case LiveClose.RESTART:
      return 'Service restart';
    case LiveClose.UNAVAILABLE:
      return 'Try again later';
    default:
      return 'Unauthorized';
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}
