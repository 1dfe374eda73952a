import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailable } from '../auth/unavailable.js';
import { ErrorCode, isGatewayError, publicMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { UpstreamError, UpstreamFailure } from '../upstreams/executor.js';

/** What clients read in production instead of an upstream's own message, unless its code is passed. */
export const UPSTREAM_ERROR_MESSAGE = 'The service behind this field reported an error.';

export interface FormatErrorOptions {
  /** Production hides upstream messages except for these codes (UPSTREAM_ERROR_CODES_PASSED). */
  readonly production?: boolean;
  readonly upstreamErrorCodesPassed?: readonly string[];
}

/** Errors produced by Apollo or graphql-js about the request itself: safe to show as they are. */
const REQUEST_ERROR_CODES: ReadonlySet<unknown> = new Set([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_USER_INPUT,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
]);

/** An outage fails every request alike; one log line per this interval says so without flooding the log. */
const OUTAGE_LOG_INTERVAL_MS = 10_000;

/**
 * Every error leaves through here. Gateway errors keep their code, reason and message; request errors from
 * Apollo pass; an unreachable database becomes SERVICE_UNAVAILABLE (answered 503 with Retry-After by
 * unavailablePlugin); anything else is a bug and becomes INTERNAL_SERVER_ERROR with no message, stack or
 * internals, while the server log keeps the details.
 */
export function createFormatError(logger: Logger, options: FormatErrorOptions = {}): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  const passed = new Set(options.upstreamErrorCodesPassed ?? []);
  let lastOutageLog = 0;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const unwrapped = unwrapResolverError(error);
    // Apollo unwraps only errors with a path; a gateway error raised for a whole operation has none.
    const original = !isGatewayError(unwrapped) && error instanceof GraphQLError && isGatewayError(error.originalError) ? error.originalError : unwrapped;
    const where = { ...(formatted.locations && { locations: formatted.locations }), ...(formatted.path && { path: formatted.path }) };
    const upstream = upstreamOriginal(error);
    if (upstream instanceof UpstreamError) {
      // An upstream's own error keeps its path and code; in production its message only when the code is passed,
      // since upstream messages were written for the upstream's team, not for the gateway's clients.
      const code = upstream.code ?? ErrorCode.INTERNAL_SERVER_ERROR;
      const shown = !options.production || (upstream.code !== undefined && passed.has(upstream.code));
      return { message: shown ? upstream.message : UPSTREAM_ERROR_MESSAGE, ...where, extensions: { code } };
    }
    if (upstream instanceof UpstreamFailure) {
      return { message: publicMessage(ErrorCode.UPSTREAM_UNAVAILABLE), ...where, extensions: { code: ErrorCode.UPSTREAM_UNAVAILABLE } };
    }
    if (isGatewayError(original)) {
      return {
        message: original.message,
        ...where,
        extensions: {
          code: original.code,
          ...(original.reason && { reason: original.reason }),
          ...(original.field && { field: original.field }),
          ...(original.retryAfterSeconds !== undefined && { retryAfterSeconds: original.retryAfterSeconds }),
          ...(original.challenge !== undefined && { challenge: original.challenge }),
          ...(original.methods !== undefined && { methods: [...original.methods] }),
        },
      };
    }
    if (isDatabaseUnavailable(original)) {
      const at = Date.now();
      if (at - lastOutageLog >= OUTAGE_LOG_INTERVAL_MS) {
        lastOutageLog = at;
        const { name, message } = original as Error;
        logger.warn({ error: { name, message }, path: formatted.path }, 'database unreachable: answering SERVICE_UNAVAILABLE until it returns');
      }
      return { message: publicMessage(ErrorCode.SERVICE_UNAVAILABLE), ...where, extensions: { code: ErrorCode.SERVICE_UNAVAILABLE } };
    }
    const code = formatted.extensions?.['code'];
    if (original instanceof GraphQLError && REQUEST_ERROR_CODES.has(code)) {
      return { message: formatted.message, ...where, extensions: { code } };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error while executing an operation');
    return { message: publicMessage(ErrorCode.INTERNAL_SERVER_ERROR), ...where, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}

/** The upstream error or failure behind an error, however graphql-js or schema stitching wrapped it. */
function upstreamOriginal(error: unknown): UpstreamError | UpstreamFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof UpstreamError || current instanceof UpstreamFailure) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}
