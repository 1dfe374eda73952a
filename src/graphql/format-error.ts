import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, isGatewayError, publicMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { isDatabaseUnavailable } from '../stores/unavailable.js';

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
export function createFormatError(logger: Logger): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  let lastOutageLog = 0;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const where = { ...(formatted.locations && { locations: formatted.locations }), ...(formatted.path && { path: formatted.path }) };
    if (isGatewayError(original)) {
      return {
        message: original.message,
        ...where,
        extensions: {
          code: original.code,
          ...(original.reason && { reason: original.reason }),
          ...(original.field && { field: original.field }),
          ...(original.retryAfterSeconds !== undefined && { retryAfterSeconds: original.retryAfterSeconds }),
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
