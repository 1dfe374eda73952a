import { randomBytes } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/** @node-rs/argon2 exports its algorithms as a const enum, which isolated modules cannot read; 2 is Argon2id. */
const ARGON2ID = 2 as Algorithm.Argon2id;

export interface Argon2Parameters {
  /** KiB. */
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** OWASP Password Storage Cheat Sheet minimum for argon2id: m=19 MiB, t=2, p=1. */
export const OWASP_ARGON2ID: Argon2Parameters = Object.freeze({ memoryCost: 19456, timeCost: 2, parallelism: 1 });

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or a hash it cannot read; never throws for a bad password. */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /**
   * Spends exactly the time a real verify would, for an email that has no account, so that the answer's
   * timing does not tell whether the account exists. Always false.
   */
  verifyNothing(password: string): Promise<false>;
}

/**
 * argon2id through @node-rs/argon2, whose hash and verify run on libuv's thread pool: hashing never blocks
 * the event loop, so a login storm does not stall other requests.
 */
export function createPasswordHasher(parameters: Argon2Parameters = OWASP_ARGON2ID): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...parameters };
  // Made now, not on first use: the first unknown email must not take a hash longer than the others.
  const dummyHash = hash(randomBytes(32).toString('base64url'), options);

  return {
    hash: (password: string): Promise<string> => hash(password, options),
    async verify(passwordHash: string, password: string): Promise<boolean> {
      try {
        return await verify(passwordHash, password);
      } catch {
        return false;
      }
    },
    async verifyNothing(password: string): Promise<false> {
      // Same parameters as real hashes, so the verify costs the same.
      await verify(await dummyHash, password).catch(() => false);
      return false;
    },
  };
}
