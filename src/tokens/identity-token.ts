import { SignJWT } from 'jose';
import { createIdentityKey } from './identity-key.js';
import { randomId } from './ids.js';
import type { KeyRing, SigningKey } from './keys.js';

/**
 * The `typ` of identity tokens. Access tokens carry `at+jwt`; each verifier pins its own type, so an identity token
 * never passes as an access token, and an access token never passes as an identity token.
 */
export const IDENTITY_TOKEN_TYPE = 'identity+jwt';

/** The longest an identity token lives: an upstream call is short, and a captured token should be worth little. */
export const IDENTITY_TOKEN_TTL_SECONDS = 60;

export interface IdentitySubject {
  readonly userId: string;
  readonly sessionId: string;
  readonly roles: readonly string[];
  /** The access token's own `exp` (seconds): the identity token never outlives it. */
  readonly notAfter: number;
  /** How the session signed in and when (RFC 8176 `amr`, `auth_time` in seconds), passed on to upstreams. */
  readonly amr?: readonly string[];
  readonly authTime?: number;
}

export interface IssuedIdentityToken {
  readonly token: string;
  /** `exp`, seconds since the epoch. */
  readonly expiresAt: number;
}

export interface IdentityTokens {
  /**
   * A token for one upstream (`aud`), signed with the gateway's current key pair, or with HS256 by that upstream's
   * own identity key derived from the current JWT_SECRET key (never the key that signs access tokens).
   */
  issue(subject: IdentitySubject, audience: string): Promise<IssuedIdentityToken>;
}

/** Signs the identity the gateway forwards to an upstream, with the key ring of access tokens or a key derived from it. */
export function createIdentityTokens(options: { keys: KeyRing; issuer: string; now: () => number }): IdentityTokens {
  const { keys, issuer, now } = options;
  // Derived keys per ring key, then per upstream: they follow the ring (a key that leaves it takes its derived keys
  // with it) and are derived once each. Audiences are the configured upstream names, so the maps stay small.
  const derived = new WeakMap<SigningKey, Map<string, Promise<SigningKey>>>();

  function identityKeyFor(key: SigningKey, audience: string): Promise<SigningKey> {
    // A key pair signs as it is: upstreams hold only its public half, which mints nothing.
    if (key.alg !== 'HS256') return Promise.resolve(key);
    let byAudience = derived.get(key);
    if (!byAudience) {
      byAudience = new Map();
      derived.set(key, byAudience);
    }
    let identityKey = byAudience.get(audience);
    if (!identityKey) {
      identityKey = createIdentityKey(key, audience);
      // A failed derivation is not remembered; the next call tries again (and fails loudly again).
      identityKey.catch(() => byAudience.delete(audience));
      byAudience.set(audience, identityKey);
    }
    return identityKey;
  }

  return {
    async issue(subject: IdentitySubject, audience: string): Promise<IssuedIdentityToken> {
      const at = now();
      const issuedAt = Math.floor(at / 1000);
      const expiresAt = Math.min(issuedAt + IDENTITY_TOKEN_TTL_SECONDS, subject.notAfter);
      const key = await identityKeyFor(keys.current(at), audience);
      if (!key.signKey) throw new Error(`The current key ${key.kid} cannot sign in this process.`);
      const token = await new SignJWT({
        sid: subject.sessionId,
        roles: [...subject.roles],
        ...(subject.amr !== undefined && { amr: [...subject.amr] }),
        ...(subject.authTime !== undefined && subject.authTime > 0 && { auth_time: subject.authTime }),
      })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: IDENTITY_TOKEN_TYPE })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(subject.userId)
        .setJti(randomId())
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(key.signKey);
      return { token, expiresAt };
    },
  };
}
