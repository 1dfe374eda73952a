import type { Viewer } from '../auth/auth-service.js';
import type { IdentityCache } from './identity-cache.js';

/** A client request header by lower-case name (only UPSTREAM_FORWARD_HEADERS are ever read). */
export type HeaderReader = (name: string) => string | null | undefined;

/**
 * The headers one upstream call carries: the configured client headers, and for a signed-in viewer that
 * upstream's identity token. Nothing else the client sent (cookies, its Authorization, X-Forwarded-*).
 * Shared by the general path and the pass-through, so both send exactly the same.
 */
export async function callHeadersFor(
  input: { identity: IdentityCache; forwardHeaders: readonly string[]; viewer: Viewer; header: HeaderReader },
  upstream: string,
): Promise<Record<string, string>> {
  const forwarded: Record<string, string> = {};
  for (const name of input.forwardHeaders) {
    const value = input.header(name);
    if (typeof value === 'string') forwarded[name] = value;
  }
  const { viewer } = input;
  if (viewer.kind !== 'user') return forwarded;
  const authorization = await input.identity.authorizationFor({ userId: viewer.userId, sessionId: viewer.sessionId, roles: viewer.roles, notAfter: viewer.expiresAt, amr: viewer.amr, authTime: viewer.authTime }, upstream);
  return { ...forwarded, authorization };
}
