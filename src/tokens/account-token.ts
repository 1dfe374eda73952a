import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Secret } from '../config/secret.js';

/**
 * One-time tokens mailed in links: password reset and email verification. Like refresh tokens they are 256
 * random bits and the database keeps only an HMAC of them, so a copy of the database cannot be turned into a
 * working link. Each purpose has its own key, so a token of one purpose is unknown to the other.
 */
export const ACCOUNT_TOKEN_BYTES = 32;
const ACCOUNT_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export type AccountTokenPurpose = 'password-reset' | 'email-verification';

export interface AccountTokenKeys {
  /** What the database stores and looks up: HMAC-SHA256 under the purpose's key. */
  hash(purpose: AccountTokenPurpose, token: string): string;
}

export function generateAccountToken(): string {
  return randomBytes(ACCOUNT_TOKEN_BYTES).toString('base64url');
}

/** A value of the wrong length or alphabet is refused before any hashing or lookup. */
export function isWellFormedAccountToken(token: string): boolean {
  return ACCOUNT_TOKEN_SHAPE.test(token);
}

/**
 * Keys derived from REFRESH_TOKEN_HASH_SECRET with HKDF-SHA256, one per purpose and distinct from the refresh
 * token's (different `info`), so no stored hash of one kind can be matched against another.
 */
export function createAccountTokenKeys(secret: Secret): AccountTokenKeys {
  const root = secret.bytes();
  const derive = (purpose: AccountTokenPurpose): Buffer => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `portcullis/account-token/${purpose}/v1`, 32));
  const keys: Record<AccountTokenPurpose, Buffer> = { 'password-reset': derive('password-reset'), 'email-verification': derive('email-verification') };
  root.fill(0);
  return {
    hash: (purpose: AccountTokenPurpose, token: string): string => createHmac('sha256', keys[purpose]).update(token, 'utf8').digest('base64url'),
  };
}
