import { createHash, webcrypto } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Secret } from '../config/secret.js';

/** One algorithm per key; the verifier pins it, so a token naming another algorithm for a key fails. */
export const SIGNING_ALGORITHMS = ['HS256', 'EdDSA', 'ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>;

/** The algorithm of the key made from JWT_SECRET. */
export const ACCESS_TOKEN_ALGORITHM = 'HS256';

type Key = webcrypto.CryptoKey | Uint8Array;

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** Present when this process may sign with the key. */
  readonly signKey: Key | undefined;
  readonly verifyKey: Key;
  /** The public half as published in the JWKS; undefined for HMAC keys, which are never published. */
  readonly publicJwk: JWK | undefined;
  /** In the JWKS from then on, and verifying. */
  readonly publishedAt: number;
  /** Signs from then on (until a later key activates). */
  readonly activatesAt: number;
  /** Verifies nothing from then on, and leaves the JWKS. */
  readonly retiresAt: number | null;
  /**
   * HS256 keys made from JWT_SECRET: the same secret imported for HKDF, from which each upstream's identity key is
   * derived (tokens/identity-key.ts), so no upstream holds the key that signs access tokens. Undefined for key
   * pairs and for keys that are themselves derived.
   */
  readonly derivation: webcrypto.CryptoKey | undefined;
}

/**
 * The keys, with their schedule. Every question is asked at a time, so a rotation plays out by the clock alone:
 * a new key is published (and verifies) before it signs, and an old one verifies until it retires.
 */
export interface KeyRing {
  /** The key that signs at `now`: the published key that activated last. */
  current(now: number): SigningKey;
  /** The key with this `kid` if it verifies at `now`. Lookup only by `kid`, never by anything else a token says. */
  find(kid: string, now: number): SigningKey | undefined;
  /** Public keys published at `now`. Never private or HMAC material. */
  jwks(now: number): JWK[];
}

function isLive(key: SigningKey, now: number): boolean {
  return key.publishedAt <= now && (key.retiresAt === null || now < key.retiresAt);
}

/** A ring over a fixed list of keys; `keys` may be replaced as a whole when the stored schedule changes. */
export function createKeyRing(initial: readonly SigningKey[]): KeyRing & { replace(keys: readonly SigningKey[]): void } {
  let keys: readonly SigningKey[] = initial;
  let byKid = new Map(keys.map((key) => [key.kid, key]));
  return {
    replace(next: readonly SigningKey[]): void {
      keys = next;
      byKid = new Map(next.map((key) => [key.kid, key]));
    },
    current(now: number): SigningKey {
      let chosen: SigningKey | undefined;
      for (const key of keys) {
        if (!key.signKey || !isLive(key, now) || key.activatesAt > now) continue;
        if (!chosen || key.activatesAt > chosen.activatesAt) chosen = key;
      }
      if (!chosen) throw new Error('No signing key is active now: check the key schedule (npm run keys:rotate).');
      return chosen;
    },
    find(kid: string, now: number): SigningKey | undefined {
      const key = byKid.get(kid);
      return key && isLive(key, now) ? key : undefined;
    },
    jwks(now: number): JWK[] {
      const published: JWK[] = [];
      for (const key of keys) if (key.publicJwk && isLive(key, now)) published.push({ ...key.publicJwk, kid: key.kid, alg: key.alg, use: 'sig' });
      return published;
    },
  };
}

/**
 * The HS256 key from JWT_SECRET: always active, never published. Its `kid` is a truncated SHA-256 of a label
 * and the key: stable across restarts, different for every secret, one-way. Importing it once as a
 * non-extractable CryptoKey saves that work on every sign and verify. The secret is imported a second time for
 * HKDF only (`derivation`): the identity keys of the upstreams come from it, never the secret itself.
 */
export async function createHmacKey(secret: Secret): Promise<SigningKey> {
  const bytes = secret.bytes();
  const derivation = await webcrypto.subtle.importKey('raw', bytes, 'HKDF', false, ['deriveBits']);
  bytes.fill(0);
  return Object.freeze({ ...(await importHmacKey(secret)), derivation });
}

/**
 * An HS256 key that only signs and verifies, with the `kid` rule of `createHmacKey`: an upstream's identity key,
 * on the gateway (which derived it) and on the upstream (which was given it) alike.
 */
export async function importHmacKey(secret: Secret): Promise<SigningKey> {
  const bytes = secret.bytes();
  const kid = createHash('sha256').update('portcullis/kid/v1\0').update(bytes).digest('base64url').slice(0, 16);
  const key = await webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  bytes.fill(0);
  return Object.freeze({ kid, alg: 'HS256', signKey: key, verifyKey: key, publicJwk: undefined, publishedAt: 0, activatesAt: 0, retiresAt: null, derivation: undefined });
}

/** The HS256 ring: one key, no schedule. Kept as the name of the first release. */
export async function createHmacKeyRing(secret: Secret): Promise<KeyRing> {
  return createKeyRing([await createHmacKey(secret)]);
}

/** A fresh asymmetric key pair as JWKs, with its RFC 7638 thumbprint as `kid`. */
export async function generateSigningKey(alg: AsymmetricAlgorithm): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519' } : alg === 'ES256' ? {} : { modulusLength: 2048 };
  const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  return { kid: await calculateJwkThumbprint(publicJwk), publicJwk, privateJwk };
}

/** An asymmetric key from its stored JWKs. Without `privateJwk` it only verifies. */
export async function importSigningKey(record: {
  kid: string;
  alg: AsymmetricAlgorithm;
  publicJwk: JWK;
  privateJwk: JWK | undefined;
  publishedAt: number;
  activatesAt: number;
  retiresAt: number | null;
}): Promise<SigningKey> {
  const verifyKey = (await importJWK(record.publicJwk, record.alg)) as Key;
  const signKey = record.privateJwk ? ((await importJWK(record.privateJwk, record.alg)) as Key) : undefined;
  const publicJwk: JWK = { ...record.publicJwk };
  return Object.freeze({ ...record, publicJwk, verifyKey, signKey, derivation: undefined });
}
