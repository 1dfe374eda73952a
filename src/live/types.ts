import type { ExecutionResult } from 'graphql';
import type { SignedInViewer, Viewer } from '../auth/auth-service.js';
import type { CheckedToken } from '../auth/revocation-view.js';

/**
 * Close codes of live connections. The 44xx ones are graphql-transport-ws's own meanings; 1008, 1012 and 1013
 * are the WebSocket standard's. SSE streams end with an error event carrying the matching GraphQL code.
 */
export const LiveClose = {
  /** The token presented at connect is not valid (expired or forged): refresh, then reconnect. */
  UNAUTHORIZED: 4401,
  /** The session (or account) the connection was opened with has ended: sign in again. */
  REVOKED: 4403,
  /** The client read too slowly and its queue passed SUBSCRIPTION_MAX_BUFFERED_EVENTS. */
  SLOW_CONSUMER: 1008,
  /** The gateway is shutting down: reconnect (to another instance). */
  RESTART: 1012,
  /** The gateway cannot check revocations right now: reconnect shortly. */
  UNAVAILABLE: 1013,
} as const;
export type LiveCloseCode = (typeof LiveClose)[keyof typeof LiveClose];

/** Who opened a live connection, decided once at connect from the token; the registry keeps it current. */
export interface LiveIdentity {
  readonly viewer: Viewer;
  /** For a signed-in viewer: the verified claims the revocation view checks on every sweep. */
  readonly token: (CheckedToken & { readonly roles: readonly string[] }) | undefined;
  /** The session's absolute end (ms since the epoch), read once at connect. */
  readonly sessionEndsAt: number | undefined;
}

/** One running operation on a live connection, as the registry sees it. */
export interface LiveOperation {
  /**
   * The viewer's roles changed (only ever fewer): true when the operation may go on. The operation itself
   * decides again on its document.
   */
  stillAllowed(viewer: SignedInViewer): boolean;
  /** Ends the operation: `last` (if any) is the final event, then complete. Idempotent. */
  end(last?: ExecutionResult): void;
}

/** One live connection (a WebSocket, or one SSE stream), as the registry sees it. */
export interface LiveConnection {
  readonly address: string;
  readonly identity: LiveIdentity;
  /** The current viewer: the identity's, with roles narrowed as administrators take them away. */
  viewer: Viewer;
  readonly operations: Map<string, LiveOperation>;
  /** Closes the transport with a LiveClose code; its operations end with it. */
  close(code: LiveCloseCode): void;
}
