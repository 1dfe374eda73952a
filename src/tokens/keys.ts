import { createHash, webcrypto } from 'node:crypto';
import type { Secret } from '../config/secret.js';

/** The one algorithm this key ring signs and accepts. The verifier pins it; a token naming another fails. */
export const ACCESS_TOKEN_ALGORITHM = 'HS256';

export interface SigningKey {
  readonly kid: string;
  readonly alg: typeof ACCESS_TOKEN_ALGORITHM;
  readonly key: webcrypto.CryptoKey;
}

export interface KeyRing {
  /** The key new tokens are signed with. */
  readonly current: SigningKey;
  /** The key with this `kid`, if the ring holds one. Lookup only by `kid`, never by anything else a token says. */
  find(kid: string): SigningKey | undefined;
}

/**
 * Builds the ring from the configured HS256 secret. The `kid` is a truncated SHA-256 of a label and the key:
 * stable across restarts, different for every secret, and one-way, so publishing it reveals nothing usable.
 * Importing the key once as a non-extractable CryptoKey saves that work on every sign and verify.
 */
export async function createKeyRing(secret: Secret): Promise<KeyRing> {
  const bytes = secret.bytes();
  const kid = createHash('sha256').update('portcullis/kid/v1\0').update(bytes).digest('base64url').slice(0, 16);
  const key = await webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  bytes.fill(0);
  const current: SigningKey = Object.freeze({ kid, alg: ACCESS_TOKEN_ALGORITHM, key });
  return Object.freeze({
    current,
    find: (wanted: string): SigningKey | undefined => (wanted === kid ? current : undefined),
  });
}
