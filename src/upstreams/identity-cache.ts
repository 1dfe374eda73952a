import { LRUCache } from 'lru-cache';
import type { IdentitySubject, IdentityTokens, IssuedIdentityToken } from '../tokens/identity-token.js';

/** A cached token is used while it has at least this long to live, so an upstream never receives one about to expire. */
const MIN_REMAINING_SECONDS = 20;

export interface IdentityCache {
  /**
   * The `Authorization` header value (`Bearer <identity token>`) for this session, roles and upstream: the cached
   * one, or one with a fresh token near expiry.
   */
  authorizationFor(subject: IdentitySubject, audience: string): Promise<string>;
}

/** The header value is built once per token: a ~400-character string per upstream call otherwise. */
interface CachedIdentity {
  readonly expiresAt: number;
  readonly authorization: string;
}

/**
 * Signing costs tens of microseconds (HS256) to milliseconds (RS256) per call; a signed-in user sends many
 * requests a minute. One token per session, upstream, roles and access-token expiry is reused until it nears its
 * own expiry. The key includes the roles and the access token's `exp`, so a refreshed or re-roled session never
 * receives a token made for its predecessor.
 */
export function createIdentityCache(options: { tokens: IdentityTokens; now: () => number; size?: number }): IdentityCache {
  const { tokens, now } = options;
  const cache = new LRUCache<string, CachedIdentity>({ max: options.size ?? 10_000 });
  // Concurrent requests of one session share one signature instead of each making their own.
  const pending = new Map<string, Promise<IssuedIdentityToken>>();
  return {
    async authorizationFor(subject: IdentitySubject, audience: string): Promise<string> {
      const key = `${subject.sessionId}\u0000${audience}\u0000${subject.notAfter}\u0000${subject.roles.join(',')}\u0000${subject.amr?.join(',') ?? ''}\u0000${subject.authTime ?? 0}`;
      const cached = cache.get(key);
      if (cached && cached.expiresAt - now() / 1000 >= Math.min(MIN_REMAINING_SECONDS, subject.notAfter - now() / 1000)) return cached.authorization;
      let signing = pending.get(key);
      if (!signing) {
        signing = tokens.issue(subject, audience).finally(() => pending.delete(key));
        pending.set(key, signing);
      }
      const issued = await signing;
      const entry: CachedIdentity = { expiresAt: issued.expiresAt, authorization: `Bearer ${issued.token}` };
      cache.set(key, entry);
      return entry.authorization;
    },
  };
}
