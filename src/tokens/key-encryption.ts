import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JWK } from 'jose';
import type { Secret } from '../config/secret.js';

/** A private JWK encrypted with AES-256-GCM, as stored beside its public half. */
export interface SealedKey {
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

/** Every field of a stored signing-key record that decides what it verifies, signs or publishes, and when. */
export interface SigningKeyRecordFields {
  readonly kid: string;
  readonly alg: string;
  readonly generation: number;
  readonly publicJwk: JWK;
  readonly sealedPrivateJwk: SealedKey;
  readonly publishedAt: Date;
  readonly activatesAt: Date;
  readonly retiresAt: Date | null;
}

export interface KeyEncryption {
  /** Encrypts a private JWK; `kid` is bound in as associated data, so a sealed key cannot be moved to another id. */
  seal(kid: string, jwk: JWK): SealedKey;
  open(kid: string, sealed: SealedKey): JWK;
  /** The MAC stored beside a signing-key record, over the whole record. */
  authenticate(record: SigningKeyRecordFields): string;
  /** True when `mac` is the record's MAC under this secret; constant-time. */
  isAuthentic(record: SigningKeyRecordFields, mac: string | null): boolean;
}

/**
 * JWK members are strings (or arrays of strings, kept in order); sorting the members makes the encoding
 * independent of how a database returns them. A full RFC 8785 implementation would add nothing for that shape.
 */
function canonicalJwk(jwk: JWK): Array<[string, unknown]> {
  return Object.keys(jwk)
    .sort()
    .map((name) => [name, (jwk as Record<string, unknown>)[name]]);
}

/** One JSON array of the fields in a fixed order: unambiguous, since JSON quotes and delimits every value. */
function macInput(record: SigningKeyRecordFields): string {
  return JSON.stringify([
    'portcullis/signing-key-record/v1',
    record.kid,
    record.alg,
    record.generation,
    canonicalJwk(record.publicJwk),
    record.sealedPrivateJwk.iv,
    record.sealedPrivateJwk.tag,
    record.sealedPrivateJwk.data,
    record.publishedAt.getTime(),
    record.activatesAt.getTime(),
    record.retiresAt === null ? null : record.retiresAt.getTime(),
  ]);
}

/**
 * Private signing keys are encrypted at rest with a key derived (HKDF-SHA256, its own label) from
 * REFRESH_TOKEN_HASH_SECRET, the secret only the gateway holds: a copy of the database alone cannot sign.
 * The whole record (kid, algorithm, public half, schedule, sealed private half) is MACed under a second key
 * derived from the same secret: whoever can write to the database but lacks the secret can neither add a
 * verify-only key (whose tokens downstream services would accept through the JWKS) nor move a key's schedule.
 */
export function createKeyEncryption(secret: Secret): KeyEncryption {
  const root = secret.bytes();
  const key = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'portcullis/signing-key-encryption/v1', 32));
  const macKey = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'portcullis/signing-key-record-mac/v1', 32));
  root.fill(0);
  const authenticate = (record: SigningKeyRecordFields): string => createHmac('sha256', macKey).update(macInput(record), 'utf8').digest('base64url');
  return {
    authenticate,
    isAuthentic(record: SigningKeyRecordFields, mac: string | null): boolean {
      if (typeof mac !== 'string') return false;
      let expected: Buffer;
      try {
        expected = Buffer.from(authenticate(record), 'utf8');
      } catch {
        // A record of the wrong shape (written by hand, not by the gateway) cannot be authentic.
        return false;
      }
      const presented = Buffer.from(mac, 'utf8');
      return presented.length === expected.length && timingSafeEqual(presented, expected);
    },
    seal(kid: string, jwk: JWK): SealedKey {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(kid, 'utf8'));
      const data = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
      return { iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
    },
    open(kid: string, sealed: SealedKey): JWK {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAAD(Buffer.from(kid, 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as JWK;
    },
  };
}
