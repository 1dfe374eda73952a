import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Secret } from '../config/secret.js';

/** A TOTP secret encrypted with AES-256-GCM, as stored. */
export interface SealedSecret {
  readonly iv: string;
  readonly tag: string;
  readonly data: string;
}

export interface SecondFactorKeys {
  /**
   * Encrypts a TOTP secret under a key derived from REFRESH_TOKEN_HASH_SECRET, the same root as the signing keys'
   * encryption (tokens/key-encryption.ts) with a label of its own. The user id is bound in as associated data, so a
   * sealed secret copied onto another account does not open.
   */
  seal(userId: string, secret: string): SealedSecret;
  open(userId: string, sealed: SealedSecret): string;
  /** Keyed hash of a recovery code or an MFA challenge: what the database stores and looks up. */
  hash(purpose: 'recovery-code' | 'mfa-challenge', value: string): string;
}

export function createSecondFactorKeys(secret: Secret): SecondFactorKeys {
  const root = secret.bytes();
  const derive = (label: string): Buffer => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), label, 32));
  const sealKey = derive('portcullis/totp-secret-encryption/v1');
  const hashKeys = { 'recovery-code': derive('portcullis/recovery-code/hash/v1'), 'mfa-challenge': derive('portcullis/mfa-challenge/hash/v1') };
  root.fill(0);
  return {
    seal(userId: string, plain: string): SealedSecret {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
      cipher.setAAD(Buffer.from(`totp:${userId}`, 'utf8'));
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return { iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
    },
    open(userId: string, sealed: SealedSecret): string {
      const decipher = createDecipheriv('aes-256-gcm', sealKey, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAAD(Buffer.from(`totp:${userId}`, 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]).toString('utf8');
    },
    hash: (purpose, value): string => createHmac('sha256', hashKeys[purpose]).update(value, 'utf8').digest('base64url'),
  };
}
