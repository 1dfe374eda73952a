import { ErrorCode, GatewayError } from '../errors.js';
import type { Limiter, RateLimitsStore } from '../stores/rate-limits.store.js';

/** What beforeAttempt learned, handed back to afterFailure or afterSuccess. */
export interface LoginTicket {
  readonly pairKey: string;
  readonly addressKey: string;
  readonly sharedPairFailures: readonly number[];
}

export interface LoginThrottle {
  /** Counts an attempt on this account from this address; RATE_LIMITED (with a retry-after) when over. */
  beforeAttempt(email: string, address: string | null): Promise<LoginTicket>;
  /** A wrong password (or unknown account): recorded in the shared counters. */
  afterFailure(ticket: LoginTicket): Promise<void>;
  /** A correct password: the account-and-address counters start over; the address keeps nothing against it. */
  afterSuccess(ticket: LoginTicket): Promise<void>;
  /** Counts an attempt from this address only (sign-up). */
  beforeAddressAttempt(address: string | null): Promise<void>;
}

/**
 * Growing delays per account-and-address: 5 failures per 5 minutes, then 20 per hour, then 50 per day. Keyed by
 * the pair, never by the account alone: whoever guesses at a victim's account from elsewhere slows only
 * themselves, and cannot lock the victim out. Per address, 100 failures per 15 minutes across all accounts
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
  const keyOf = (address: string | null): string => address ?? 'unknown';

  async function begin(attempts: ReadonlyArray<[Limiter, string]>): Promise<number[]> {
    const results = await Promise.all(attempts.map(([limiter, key]) => limiter.begin(key)));
    let retryAfterMs = 0;
    const sharedFailures: number[] = [];
    for (const result of results) {
      if (result.allowed) sharedFailures.push(result.sharedFailures);
      else retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
    }
    if (retryAfterMs > 0) throw new GatewayError(ErrorCode.RATE_LIMITED, { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
    return sharedFailures;
  }

  return {
    async beforeAttempt(email: string, address: string | null): Promise<LoginTicket> {
      const pairKey = `${email}\n${keyOf(address)}`;
      const addressKey = keyOf(address);
      const shared = await begin([...pair.map((limiter): [Limiter, string] => [limiter, pairKey]), [byAddress, addressKey]]);
      return { pairKey, addressKey, sharedPairFailures: shared.slice(0, pair.length) };
    },
    async afterFailure(ticket: LoginTicket): Promise<void> {
      await Promise.all([...pair.map((limiter) => limiter.recordFailure(ticket.pairKey)), byAddress.recordFailure(ticket.addressKey)]);
    },
    async afterSuccess(ticket: LoginTicket): Promise<void> {
      await Promise.all([
        ...pair.map((limiter, index) => limiter.reset(ticket.pairKey, ticket.sharedPairFailures[index] ?? 1)),
        byAddress.forgetAttempt(ticket.addressKey),
      ]);
    },
    async beforeAddressAttempt(address: string | null): Promise<void> {
      await begin([[byAddress, keyOf(address)]]);
      await byAddress.recordFailure(keyOf(address));
    },
  };
}
