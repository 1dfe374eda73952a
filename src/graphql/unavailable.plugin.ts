import type { ApolloServerPlugin } from '@apollo/server';
import { ErrorCode } from '../errors.js';
import type { GatewayContext } from './context.js';

/**
 * How long a client should wait before retrying. The driver gives up on an unreachable server within a few
 * seconds and finds it again as soon as it answers, so a short wait is enough.
 */
export const RETRY_AFTER_SECONDS = 5;

/**
 * An answer carrying SERVICE_UNAVAILABLE (the database is unreachable, or the revocation view is too far behind
 * to vouch for tokens) goes out as HTTP 503 with Retry-After, so clients, proxies and load balancers treat it as
 * the temporary outage it is rather than as a successful GraphQL response. The code is decided once, in
 * formatError; this only reads it.
 */
export function unavailablePlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors ?? [];
          if (!errors.some((error) => error.extensions?.['code'] === ErrorCode.SERVICE_UNAVAILABLE)) return;
          response.http.status = 503;
          response.http.headers.set('retry-after', String(RETRY_AFTER_SECONDS));
        },
      };
    },
  };
}
