import { createHmac, randomBytes } from 'node:crypto';
import type { Secret } from '../config/secret.js';

/**
 * Refresh tokens are opaque random strings, not JWTs: nothing but the gateway can check one, and no JWT
 * verifier anywhere can mistake one for an access token. The database keeps only a keyed hash, so a value
 * copied out of it cannot be presented, and without the key it cannot even be checked against a guess.
 */
export const REFRESH_TOKEN_BYTES = 32;
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface RefreshTokenHasher {
  hash(token: string): string;
}

export function generateRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
}

/** A malformed value is refused before any hashing or lookup. */
export function isWellFormedRefreshToken(token: string): boolean {
  return REFRESH_TOKEN_SHAPE.test(token);
}

export function createRefreshTokenHasher(secret: Secret): RefreshTokenHasher {
  const key = secret.bytes();
  return {
    hash: (token: string): string => createHmac('sha256', key).update(token, 'utf8').digest('base64url'),
  };
}
