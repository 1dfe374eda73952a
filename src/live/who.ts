import type { IncomingHttpHeaders } from 'node:http';
import type { AuthService } from '../auth/auth-service.js';
import { isSameOrigin } from '../http/security.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { LiveIdentity } from './types.js';

/**
 * Cross-site WebSocket hijacking: a browser sends the cookie on a WebSocket upgrade from any site, and CORS does
 * not apply. A browser's upgrade (it always sends Origin) must come from the gateway's own origin or an allowed
 * one; clients that are not browsers send no Origin and carry their token themselves.
 */
export function originAllowed(headers: IncomingHttpHeaders, allowedOrigins: ReadonlySet<string>): boolean {
  const origin = headers.origin;
  if (origin === undefined) return headers['sec-fetch-site'] !== 'cross-site';
  return allowedOrigins.has(origin) || isSameOrigin(origin, headers);
}

/** `Bearer <token>` from a connection_init payload or header; '' (invalid) for anything else that was sent. */
export function bearer(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return '';
  return /^Bearer +(\S+) *$/i.exec(value)?.[1] ?? '';
}

/**
 * The identity a live connection is opened with: the viewer exactly as for an HTTP request (auth.authenticate:
 * signature, expiry, revocation view), plus the verified claims the registry re-checks on its sweeps, and the
 * session's absolute end (one database read per connection; none per event or sweep).
 */
export async function identify(auth: AuthService, accessTokens: AccessTokens, token: string | undefined): Promise<LiveIdentity> {
  const viewer = await auth.authenticate(token);
  if (viewer.kind !== 'user' || token === undefined) return { viewer, token: undefined, sessionEndsAt: undefined };
  const verified = await accessTokens.verify(token);
  if (!verified.ok) return { viewer: { kind: 'rejected', reason: verified.reason }, token: undefined, sessionEndsAt: undefined };
  const session = await auth.currentSession(viewer);
  if (!session) return { viewer: { kind: 'rejected', reason: 'TOKEN_INVALID' }, token: undefined, sessionEndsAt: undefined };
  return { viewer, token: verified.claims, sessionEndsAt: session.expiresAt.getTime() };
}
