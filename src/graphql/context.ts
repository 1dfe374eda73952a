import type { AuthService, ClientInfo, IssuedSession, SignedInViewer, Viewer } from '../auth/auth-service.js';
import type { OidcService } from '../auth/oidc/oidc-service.js';
import type { SessionEventView } from './types/session-event.type.js';

/**
 * What the HTTP layer does with a new session. Defined here and implemented by http/, so resolvers can set
 * cookies without knowing about Express.
 */
export interface SessionTransport {
  /** Sets the access and refresh cookies for a browser session. */
  setSessionCookies(session: IssuedSession): void;
  /** Expires both cookies (same names, paths and attributes), and any refresh cookie that shadowed ours. */
  clearSessionCookies(): void;
  /** Sets the short-lived cookie a passkey sign-in's challenge is bound to (absent in transports without cookies). */
  setPasskeyCookie?(value: string, maxAgeSeconds: number): void;
}

/** `auth` is /graphql/auth, where the refresh cookie travels and only the auth operations are served. */
export type Endpoint = 'api' | 'auth';

export interface GatewayContext {
  readonly endpoint: Endpoint;
  readonly viewer: Viewer;
  /** The refresh cookie, when the browser sent it (only to /graphql/auth, its Path). Unchecked. */
  readonly refreshCookie: string | undefined;
  /**
   * The refresh cookie's name came more than once (a shadowing cookie, e.g. one a sibling subdomain set for the
   * parent domain). refreshCookie is then undefined: neither value is trusted, and refresh refuses.
   */
  readonly refreshCookieShadowed: boolean;
  /** The access token as sent, unchecked. Only logout reads it: to end the session of a genuine but expired one. */
  readonly presentedAccessToken?: string | undefined;
  /** The passkey ceremony cookie, when the browser sent it. Unchecked. */
  readonly passkeyCookie?: string | undefined;
  readonly auth: AuthService;
  /** Sign-in providers and the account's sign-in methods. */
  readonly oidc: OidcService;
  readonly client: ClientInfo;
  readonly transport: SessionTransport;
  /** Live operations only (WebSocket, SSE, src/live/): the feed behind mySessionEvents. */
  readonly sessionEvents?: (viewer: SignedInViewer) => AsyncIterable<SessionEventView>;
}

/** What the transport extracted from one request. */
export interface RequestCredentials {
  readonly endpoint: Endpoint;
  /** The access token from the Authorization header or the access cookie; whatever was sent, unchecked. */
  readonly accessToken: string | undefined;
  readonly refreshCookie: string | undefined;
  readonly refreshCookieShadowed: boolean;
  readonly passkeyCookie?: string | undefined;
  readonly client: ClientInfo;
  readonly transport: SessionTransport;
}

/**
 * Runs on every request. It verifies the access token (signature, algorithm, issuer, audience, typ, expiry)
 * with no database read. A bad token does not fail the request: it makes a `rejected` viewer, which every
 * `@authorized` field refuses with UNAUTHENTICATED and its reason, while public fields such as `login` still
 * work, so a stale cookie cannot lock anybody out of signing in again.
 */
export function createContextFactory(auth: AuthService, oidc: OidcService): (request: RequestCredentials) => Promise<GatewayContext> {
  return async (request: RequestCredentials): Promise<GatewayContext> => ({
    endpoint: request.endpoint,
    viewer: await auth.authenticate(request.accessToken),
    refreshCookie: request.refreshCookie,
    refreshCookieShadowed: request.refreshCookieShadowed,
    presentedAccessToken: request.accessToken,
    passkeyCookie: request.passkeyCookie,
    auth,
    oidc,
    client: request.client,
    transport: request.transport,
  });
}
