import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Secret } from '../config/secret.js';

/**
 * Refresh tokens are opaque random strings, not JWTs: nothing but the gateway can check one, and no JWT
 * verifier anywhere can mistake one for an access token. The database keeps only a keyed hash, so a value
 * copied out of it cannot be presented, and without the key it cannot even be checked against a guess.
 */
export const REFRESH_TOKEN_BYTES = 32;
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface RefreshTokenKeys {
  /** What the database stores and looks up: HMAC-SHA256 under the hash key. */
  hash(token: string): string;
  /**
   * The one token that may follow `token`: HMAC-SHA256 under a second key. Deterministic on purpose, so a
   * token can never have two successors (whichever request wins the insert, every other request presenting
   * the same token derives the same successor) and a retry after a lost response gets back the very token
   * that was stored. Unpredictable without the key, like a random token.
   */
  successor(token: string): string;
}

export function generateRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
}

/** A malformed value is refused before any hashing or lookup. */
export function isWellFormedRefreshToken(token: string): boolean {
  return REFRESH_TOKEN_SHAPE.test(token);
}

/** Two independent keys from REFRESH_TOKEN_HASH_SECRET (HKDF-SHA256), one per purpose. */
export function createRefreshTokenKeys(secret: Secret): RefreshTokenKeys {
  const root = secret.bytes();
  const derive = (purpose: string): Buffer => Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `portcullis/refresh-token/${purpose}/v1`, 32));
  const hashKey = derive('hash');
  const successorKey = derive('successor');
  root.fill(0);
  return {
    hash: (token: string): string => createHmac('sha256', hashKey).update(token, 'utf8').digest('base64url'),
    successor: (token: string): string => createHmac('sha256', successorKey).update(token, 'utf8').digest('base64url'),
  };
}
