import { ErrorCode, GatewayError } from '../errors.js';
import type { Limiter, RateLimitsStore } from '../stores/rate-limits.store.js';

export interface LoginThrottle {
  /** Counts an attempt on this account from this address; RATE_LIMITED (with a retry-after) when over. */
  beforeAttempt(email: string, address: string | null): Promise<void>;
  /** A correct password: the account-and-address counters start over and the address gets its point back. */
  afterSuccess(email: string, address: string | null): Promise<void>;
  /** Counts an attempt from this address only (sign-up). */
  beforeAddressAttempt(address: string | null): Promise<void>;
}

/**
 * Growing delays per account-and-address: 5 attempts per 5 minutes, then 20 per hour, then 50 per day. Keyed by
 * the pair, never by the account alone: whoever guesses at a victim's account from elsewhere slows only
 * themselves, and cannot lock the victim out. Per address, 100 attempts per 15 minutes across all accounts
 * bounds password spraying.
 */
export const LOGIN_LIMITS = Object.freeze({
  pair: [
    { name: 'login-pair-5m', points: 5, durationSeconds: 300 },
    { name: 'login-pair-1h', points: 20, durationSeconds: 3600 },
    { name: 'login-pair-1d', points: 50, durationSeconds: 86_400 },
  ],
  address: { name: 'login-address-15m', points: 100, durationSeconds: 900 },
});

export function createLoginThrottle(store: RateLimitsStore): LoginThrottle {
  const pair = LOGIN_LIMITS.pair.map((spec) => store.limiter(spec));
  const byAddress = store.limiter(LOGIN_LIMITS.address);
  const pairKey = (email: string, address: string | null): string => `${email}\n${address ?? 'unknown'}`;
  const addressKey = (address: string | null): string => address ?? 'unknown';

  async function spend(attempts: ReadonlyArray<[Limiter, string]>): Promise<void> {
    const results = await Promise.all(attempts.map(([limiter, key]) => limiter.consume(key)));
    let retryAfterMs = 0;
    for (const result of results) if (!result.allowed) retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
    if (retryAfterMs > 0) throw new GatewayError(ErrorCode.RATE_LIMITED, { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
  }

  return {
    async beforeAttempt(email: string, address: string | null): Promise<void> {
      await spend([...pair.map((limiter): [Limiter, string] => [limiter, pairKey(email, address)]), [byAddress, addressKey(address)]]);
    },
    async afterSuccess(email: string, address: string | null): Promise<void> {
      await Promise.all([...pair.map((limiter) => limiter.reset(pairKey(email, address))), byAddress.refund(addressKey(address))]);
    },
    async beforeAddressAttempt(address: string | null): Promise<void> {
      await spend([[byAddress, addressKey(address)]]);
    },
  };
}
