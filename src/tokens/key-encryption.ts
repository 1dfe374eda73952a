import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { JWK } from 'jose';
import type { Secret } from '../config/secret.js';

/** A private JWK encrypted with AES-256-GCM, as stored beside its public half. */
export interface SealedKey {
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

export interface KeyEncryption {
  /** Encrypts a private JWK; `kid` is bound in as associated data, so a sealed key cannot be moved to another id. */
  seal(kid: string, jwk: JWK): SealedKey;
  open(kid: string, sealed: SealedKey): JWK;
}

/**
 * Private signing keys are encrypted at rest with a key derived (HKDF-SHA256, its own label) from
 * REFRESH_TOKEN_HASH_SECRET, the secret only the gateway holds: a copy of the database alone cannot sign.
 */
export function createKeyEncryption(secret: Secret): KeyEncryption {
  const root = secret.bytes();
  const key = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'portcullis/signing-key-encryption/v1', 32));
  root.fill(0);
  return {
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
