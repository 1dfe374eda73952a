import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, parseOptions as argon2Parameters, verify as argon2Verify, type Algorithm, type Version } from '@node-rs/argon2';
import { createSlots } from './slots.js';

/** @node-rs/argon2 exports its algorithms as a const enum, which isolated modules cannot read; 2 is Argon2id. */
const ARGON2ID = 2 as Algorithm.Argon2id;
/** Likewise for the version: 1 is 0x13, the current one and the library's default. */
const VERSION_0X13 = 1 as Version.V0x13;

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
  /**
   * True when a stored hash was not made with the current algorithm, version and cost (or cannot be read): after
   * a correct password it is replaced, so every account converges on the cost an unknown email pays.
   */
  needsRehash(passwordHash: string): boolean;
  /** The hash verifyNothing checks against, made with the current parameters when the hasher was created. */
  dummyHash(): Promise<string>;
}

/**
 * argon2id through @node-rs/argon2, whose hash and verify run on libuv's thread pool, never on the event loop;
 * and at most `maxConcurrent` at once, so a login storm cannot take every core from the other requests.
 */
export interface PasswordHasherOptions {
  /** Default: the OWASP minimum. */
  readonly argon2?: Argon2Parameters;
  /** Hashes in flight at once; default: one fewer than the cores, at least one. */
  readonly maxConcurrent?: number;
}

export function createPasswordHasher(hasherOptions: PasswordHasherOptions = {}): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...(hasherOptions.argon2 ?? OWASP_ARGON2ID) };
  const slots = createSlots(hasherOptions.maxConcurrent ?? defaultHashConcurrency());
  const hash = (password: string): Promise<string> => slots.run(() => argon2Hash(password, options));
  const verify = (encoded: string, password: string): Promise<boolean> => slots.run(() => argon2Verify(encoded, password));
  // Made now, not on first use: the first unknown email must not take a hash longer than the others.
  const dummyHash = argon2Hash(randomBytes(32).toString('base64url'), options);
  // Read the promise's failure here too, so an unused dummy hash never becomes an unhandled rejection.
  dummyHash.catch(() => undefined);

  return {
    hash,
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
    needsRehash(passwordHash: string): boolean {
      const stored = parametersOf(passwordHash);
      return (
        stored === null ||
        stored.algorithm !== ARGON2ID ||
        stored.version !== VERSION_0X13 ||
        stored.memoryCost !== options.memoryCost ||
        stored.timeCost !== options.timeCost ||
        stored.parallelism !== options.parallelism
      );
    },
    dummyHash: (): Promise<string> => dummyHash,
  };
}

/** The parameters in a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), read by the argon2 library itself. */
export function parametersOf(passwordHash: string): (Argon2Parameters & { readonly algorithm: number; readonly version: number }) | null {
  try {
    const { algorithm, version, memoryCost, timeCost, parallelism } = argon2Parameters(passwordHash);
    return { algorithm, version, memoryCost, timeCost, parallelism };
  } catch {
    return null;
  }
}

/** One core left for the event loop. */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}
