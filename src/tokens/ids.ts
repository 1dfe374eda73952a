import { randomBytes } from 'node:crypto';

/** 128 random bits, base64url: session ids and token ids (`jti`) that cannot be guessed or enumerated. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}
