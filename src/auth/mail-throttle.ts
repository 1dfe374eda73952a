import { ErrorCode, GatewayError } from '../errors.js';
import type { Limiter, RateLimitsStore } from '../stores/rate-limits.store.js';
import type { AccountTokenPurpose } from '../tokens/account-token.js';
import { throttleKey } from './client-address.js';

export interface MailThrottle {
  /**
   * Counts a password-reset request for this email from this address, known account or not (the key is the
   * normalised email, so the answer tells nothing about existence); RATE_LIMITED with a retry-after when over.
   */
  beforeResetRequest(email: string, address: string | null): Promise<void>;
  /** Counts one mail of this purpose to this address; false once the hourly cap for it is spent. */
  allowMail(purpose: AccountTokenPurpose, email: string): Promise<boolean>;
}

/**
 * Like login, per account-and-address (5 per 5 minutes, then 20 per hour) and per address (100 per 15
 * minutes), with counters of their own so that asking for a reset never locks anybody out of signing in.
 * Every request counts, not only failures: each one may send a mail. On top, at most 10 mails of one kind per
 * hour go to one address from all sources together, so nobody can flood a mailbox from many addresses.
 */
export const MAIL_LIMITS = Object.freeze({
  pair: [
    { name: 'reset-pair-5m', points: 5, durationSeconds: 300 },
    { name: 'reset-pair-1h', points: 20, durationSeconds: 3600 },
  ],
  address: { name: 'reset-address-15m', points: 100, durationSeconds: 900 },
  mailbox: { name: 'mail-mailbox-1h', points: 10, durationSeconds: 3600 },
});

export function createMailThrottle(store: RateLimitsStore): MailThrottle {
  const pair = MAIL_LIMITS.pair.map((spec) => store.limiter(spec));
  const byAddress = store.limiter(MAIL_LIMITS.address);
  const mailbox = store.limiter(MAIL_LIMITS.mailbox);
  // The same client key as login's: an IPv6 client is its /64, so rotating addresses inside it buys nothing.
  const keyOf = throttleKey;

  async function count(attempts: ReadonlyArray<[Limiter, string]>): Promise<number> {
    const results = await Promise.all(attempts.map(([limiter, key]) => limiter.begin(key)));
    let retryAfterMs = 0;
    for (const result of results) if (!result.allowed) retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
    if (retryAfterMs === 0) {
      await Promise.all(attempts.map(([limiter, key]) => limiter.recordFailure(key)));
      return 0;
    }
    // Refused, nothing sent: the pair's windows that had room give the request back, so asking again and again
    // during the five minutes' wait does not spend the hour's allowance too (MAIL_LIMITS count requests let
    // through). The address keeps it: a flood from one address stays bounded.
    await Promise.all(attempts.map(([limiter, key], index) => (results[index]?.allowed && pair.includes(limiter) ? limiter.forgetAttempt(key) : undefined)));
    return retryAfterMs;
  }

  return {
    async beforeResetRequest(email: string, address: string | null): Promise<void> {
      const pairKey = `${email}\n${keyOf(address)}`;
      const retryAfterMs = await count([...pair.map((limiter): [Limiter, string] => [limiter, pairKey]), [byAddress, keyOf(address)]]);
      if (retryAfterMs > 0) throw new GatewayError(ErrorCode.RATE_LIMITED, { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
    },
    async allowMail(purpose: AccountTokenPurpose, email: string): Promise<boolean> {
      return (await count([[mailbox, `${purpose}\n${email}`]])) === 0;
    },
  };
}
