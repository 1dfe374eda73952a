import { SignJWT } from 'jose';
import { randomId } from './ids.js';
import type { KeyRing } from './keys.js';

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
  /** A token for one upstream (`aud`), signed with the gateway's current key. */
  issue(subject: IdentitySubject, audience: string): Promise<IssuedIdentityToken>;
}

/** Signs the identity the gateway forwards to an upstream, with the same key ring as access tokens. */
export function createIdentityTokens(options: { keys: KeyRing; issuer: string; now: () => number }): IdentityTokens {
  const { keys, issuer, now } = options;
  return {
    async issue(subject: IdentitySubject, audience: string): Promise<IssuedIdentityToken> {
      const at = now();
      const issuedAt = Math.floor(at / 1000);
      const expiresAt = Math.min(issuedAt + IDENTITY_TOKEN_TTL_SECONDS, subject.notAfter);
      const key = keys.current(at);
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
