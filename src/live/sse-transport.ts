import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { createHandler } from 'graphql-sse/lib/use/express';
import type { AuthService } from '../auth/auth-service.js';
import { ErrorCode, GatewayError, publicMessage } from '../errors.js';
import type { GatewayContext } from '../graphql/context.js';
import { readAccessToken } from '../http/cookies.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { LiveOperations, PreparedOperation } from './operations.js';
import type { LiveRegistry } from './registry.js';
import { LiveClose, type LiveCloseCode, type LiveConnection } from './types.js';
import { identify, originAllowed } from './who.js';

export interface SseTransportDeps {
  readonly auth: AuthService;
  readonly accessTokens: AccessTokens;
  readonly registry: LiveRegistry;
  readonly operations: LiveOperations;
  readonly allowedOrigins: readonly string[];
  readonly addressOf: (request: IncomingMessage) => string;
  readonly contextFor: (connection: LiveConnection, request: IncomingMessage) => GatewayContext;
  readonly formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
}

/** The request handler of /graphql/stream; the HTTP layer mounts it after its JSON body parser. */
export type SseHandler = (request: IncomingMessage & { body?: unknown }, response: ServerResponse) => Promise<void>;

interface SseOperation {
  readonly prepared: PreparedOperation;
  readonly connection: LiveConnection;
  readonly context: GatewayContext;
}

const OPERATION_ID = 'sse';

/**
 * GraphQL over SSE (graphql-sse, distinct connections mode: one operation per request) at /graphql/stream. Who is
 * asking comes from the Authorization header or the access cookie (a browser's only from the gateway's own or an
 * allowed Origin); an invalid token answers 401 before anything runs. Each stream is a live connection of the
 * registry: when its session ends the stream gets one last event with an UNAUTHENTICATED error, then ends.
 */
export function createSseTransport(deps: SseTransportDeps): SseHandler {
  const { registry, operations } = deps;
  const allowed = new Set(deps.allowedOrigins);
  const refusal = (status: number, code: ErrorCode): readonly [string, { status: number; statusText: string; headers: Record<string, string> }] => [
    JSON.stringify({ errors: [{ message: publicMessage(code), extensions: { code } }] }),
    { status, statusText: code, headers: { 'content-type': 'application/json; charset=utf-8' } },
  ];

  const handler = createHandler<SseOperation & Record<PropertyKey, unknown>>({
    async onSubscribe(req, params) {
      const raw = req.raw as IncomingMessage;
      if (!originAllowed(raw.headers, allowed)) return refusal(403, ErrorCode.CSRF_REJECTED);
      const identity = await identify(deps.auth, deps.accessTokens, readAccessToken(raw.headers));
      if (identity.viewer.kind === 'rejected') return refusal(401, ErrorCode.UNAUTHENTICATED);
      if (identity.viewer.kind === 'unavailable') return refusal(503, ErrorCode.SERVICE_UNAVAILABLE);
      const prepared = operations.prepare({ query: params.query, operationName: params.operationName, variables: params.variables });
      if (!('document' in prepared)) {
        return [JSON.stringify({ errors: prepared.map((error) => deps.formatError(error.toJSON(), error)) }), { status: 400, statusText: 'Bad Request', headers: { 'content-type': 'application/json; charset=utf-8' } }];
      }
      const address = deps.addressOf(raw);
      if (!registry.claimAddress(address)) return refusal(429, ErrorCode.RATE_LIMITED);
      const connection: LiveConnection = {
        address,
        identity,
        viewer: identity.viewer,
        operations: new Map(),
        close(code: LiveCloseCode) {
          for (const operation of connection.operations.values()) operation.end(lastEventFor(code));
          release();
        },
      };
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        registry.remove(connection);
        registry.releaseAddress(address);
      };
      if (!registry.add(connection)) {
        release();
        return refusal(429, ErrorCode.RATE_LIMITED);
      }
      (req.context as { res: ServerResponse }).res.once('close', release);
      const context = deps.contextFor(connection, raw);
      const operation: SseOperation = { prepared, connection, context };
      const args: ExecutionArgs & { contextValue: SseOperation & Record<PropertyKey, unknown> } = {
        schema: prepared.schema,
        document: prepared.document,
        operationName: prepared.operationName,
        variableValues: prepared.variables,
        contextValue: operation as SseOperation & Record<PropertyKey, unknown>,
      };
      return args;
    },
    execute: (args) => run(args.contextValue),
    subscribe: (args) => run(args.contextValue),
    onNext(_context, _req, result) {
      if (!('errors' in result) || !result.errors) return;
      return { ...result, errors: result.errors.map((error) => deps.formatError(error instanceof GraphQLError ? error.toJSON() : (error as GraphQLFormattedError), error)) } as unknown as ExecutionResult;
    },
  });

  function run(operation: SseOperation): ReturnType<LiveOperations['run']> {
    const { prepared, connection, context } = operation;
    return operations.run(prepared, connection, OPERATION_ID, { ...context, viewer: connection.viewer });
  }

  return (request, response) => handler(request as Parameters<typeof handler>[0], response as Parameters<typeof handler>[1]);
}

/** The stream's last event for why the registry ended it (SSE has no close codes). */
function lastEventFor(code: LiveCloseCode): ExecutionResult | undefined {
  const errorOf = (errorCode: ErrorCode): ExecutionResult => {
    const original = new GatewayError(errorCode);
    return { data: null, errors: [new GraphQLError(original.message, { originalError: original, extensions: { code: errorCode } })] };
  };
  switch (code) {
    case LiveClose.REVOKED:
    case LiveClose.UNAUTHORIZED:
      return errorOf(ErrorCode.UNAUTHENTICATED);
    case LiveClose.UNAVAILABLE:
    case LiveClose.RESTART:
      return errorOf(ErrorCode.SERVICE_UNAVAILABLE);
    default:
      return undefined;
  }
}
