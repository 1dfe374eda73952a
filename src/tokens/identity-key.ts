import { webcrypto } from 'node:crypto';
import { Secret } from '../config/secret.js';
import { createHmacKey, importHmacKey, type SigningKey } from './keys.js';

/**
 * The fixed part of the HKDF `info`; the upstream's name follows after a NUL. Versioned, so another derivation
 * could one day live beside this one without two upstreams ever sharing a key.
 */
export const IDENTITY_KEY_LABEL = 'portcullis/identity-key/v1';

/** 256 bits, as JWT_SECRET itself: the floor for an HS256 key. */
const IDENTITY_KEY_BITS = 256;

/**
 * The HS256 key an upstream verifies its identity tokens with: HKDF-SHA256 (RFC 5869) from the gateway's HS256
 * key, empty salt (the secret is already uniformly random), info `portcullis/identity-key/v1 NUL <name>`. One-way:
 * holding it tells nothing of JWT_SECRET or of another upstream's key, so an upstream can neither mint access
 * tokens nor identity tokens for its neighbours. Throws for a key that derives nothing (key pairs, derived keys):
 * a caller must never fall back to signing with the access-token key.
 */
export async function deriveIdentitySecret(key: SigningKey, audience: string): Promise<Secret> {
  if (!key.derivation) throw new Error(`The ${key.alg} key ${key.kid} derives no identity keys: only the HS256 key made from JWT_SECRET does.`);
  const info = new TextEncoder().encode(`${IDENTITY_KEY_LABEL}\0${audience}`);
  const bits = await webcrypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, key.derivation, IDENTITY_KEY_BITS);
  const bytes = new Uint8Array(bits);
  const secret = new Secret(bytes);
  bytes.fill(0);
  return secret;
}

/**
 * The identity-signing key of one upstream, derived from one HS256 key of the ring: it has a `kid` of its own
 * (never one the access-token verifier knows) and follows its parent's schedule.
 */
export async function createIdentityKey(key: SigningKey, audience: string): Promise<SigningKey> {
  const derived = await importHmacKey(await deriveIdentitySecret(key, audience));
  return Object.freeze({ ...derived, publishedAt: key.publishedAt, activatesAt: key.activatesAt, retiresAt: key.retiresAt });
}

/** The form `npm run identity:key` prints and `verifyIdentity({ secret })` reads: base64url, no padding. */
export function encodeIdentityKey(secret: Secret): string {
  const bytes = secret.bytes();
  const text = Buffer.from(bytes).toString('base64url');
  bytes.fill(0);
  return text;
}

/** What `npm run identity:key -- --upstream <name>` prints for a JWT_SECRET: the key that upstream is given. */
export async function printableIdentityKey(jwtSecret: Secret, upstream: string): Promise<string> {
  return encodeIdentityKey(await deriveIdentitySecret(await createHmacKey(jwtSecret), upstream));
}
