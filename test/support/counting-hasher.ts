import { createPasswordHasher, type PasswordHasher, type PasswordHasherOptions } from '../../src/auth/password.js';

export type CountingHasher = PasswordHasher & {
  readonly calls: { hash: number; verify: number; verifyNothing: number };
  /** Attempts whose password was checked: verify plus verifyNothing. */
  evaluated(): number;
  reset(): void;
};

/**
 * The real argon2id hasher, counting calls. Which path a login took (a real verify or the dummy one) is what
 * decides its timing; whether it reached the hasher at all is what throttling decides.
 */
export function countingHasher(options: PasswordHasherOptions = {}): CountingHasher {
  const real = createPasswordHasher(options);
  const calls = { hash: 0, verify: 0, verifyNothing: 0 };
  return {
    calls,
    evaluated: () => calls.verify + calls.verifyNothing,
    reset: () => {
      calls.hash = 0;
      calls.verify = 0;
      calls.verifyNothing = 0;
    },
    hash: (password) => (calls.hash++, real.hash(password)),
    verify: (hash, password) => (calls.verify++, real.verify(hash, password)),
    verifyNothing: (password) => (calls.verifyNothing++, real.verifyNothing(password)),
    needsRehash: (passwordHash) => real.needsRehash(passwordHash),
    dummyHash: () => real.dummyHash(),
  };
}
