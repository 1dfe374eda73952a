import { ErrorCode, GatewayError } from '../errors.js';
import type { RateLimitsStore, SharedCount } from '../stores/rate-limits.store.js';
import { throttleKey } from './client-address.js';

/** What beforeAttempt learned, handed back to afterFailure or afterSuccess. */
export interface LoginTicket {
  readonly pairKey: string;
  readonly addressKey: string;
  readonly accountKey: string;
  readonly sharedPairFailures: readonly number[];
  /**
   * Someone signed in to this account from this address before: the account-wide slowdown spares it. Only looked
   * up while the account is slowed (false otherwise).
   */
  readonly knownAddress: boolean;
}

export interface LoginThrottle {
  /**
   * Counts an attempt on this account from this address; RATE_LIMITED (with a retry-after) when over. The
   * address's count in this process is checked first: a request it refuses makes no database command and adds no
   * key anywhere else. Then the pair's count in this process (refused there: no command either), then one round trip reading
   * every shared count; refused by the address's, the attempt costs the pair nothing. A refused attempt stays
   * counted only in the pair windows that refused it, and one the database could not judge is not counted at all.
   */
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
 * themselves, and cannot lock the victim out. Per address (an IPv4 address or an IPv6 /64), 100 attempts per 15
 * minutes across all accounts bounds password spraying.
 *
 * Per account, from every address together, a soft limit against guessing spread over many addresses: 10
 * failures an hour are free; each further one makes the next attempt wait 2 s, then 4, 8 … up to 60 s. It slows,
 * never locks, and spares the addresses that have signed in to the account before, so its owner can always
 * sign in from where they usually do.
 */
export const LOGIN_LIMITS = Object.freeze({
  pair: [
    { name: 'login-pair-5m', points: 5, durationSeconds: 300 },
    { name: 'login-pair-1h', points: 20, durationSeconds: 3600 },
    { name: 'login-pair-1d', points: 50, durationSeconds: 86_400 },
  ],
  address: { name: 'login-address-15m', points: 100, durationSeconds: 900 },
  account: { name: 'login-account-1h', points: 10, durationSeconds: 3600, delayName: 'login-account-delay', maxDelaySeconds: 60 },
  // A pair that signs in daily would rewrite its mark at every login. Each process remembers (capped, like the
  // limiters' counts) the marks it wrote in the last day and skips those writes: a mark may then end up to a
  // day earlier than it would have, 29 days after the pair's last sign-in instead of 30. That only narrows who
  // is spared while the account is slowed, by a day at the end of a month-long window, never who is counted or
  // refused; it saves a write on every steady-state login (figure 3, docs/performance.md).
  knownAddress: { name: 'login-known-address', durationSeconds: 30 * 86_400, rewriteAfterSeconds: 86_400 },
});

/** The wait after an account's `failures`-th failure within the hour: 0 while free, then 2, 4, 8 … capped. */
export function accountDelaySeconds(failures: number): number {
  const over = failures - LOGIN_LIMITS.account.points;
  return over <= 0 ? 0 : Math.min(LOGIN_LIMITS.account.maxDelaySeconds, 2 ** over);
}

function rateLimited(retryAfterMs: number): GatewayError {
  return new GatewayError(ErrorCode.RATE_LIMITED, { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) });
}

export function createLoginThrottle(store: RateLimitsStore): LoginThrottle {
  const pair = LOGIN_LIMITS.pair.map((spec) => store.limiter(spec));
  const byAddress = store.limiter(LOGIN_LIMITS.address);
  const byAccount = store.limiter(LOGIN_LIMITS.account);
  const accountDelay = store.delay(LOGIN_LIMITS.account.delayName);
  const knownAddresses = store.marks(LOGIN_LIMITS.knownAddress);

  /** Gives the attempt's point back to the pair's windows in this process, except those marked in `keptBy`. */
  async function givePairBack(pairKey: string, keptBy: readonly boolean[] = []): Promise<void> {
    for (const [index, limiter] of pair.entries()) if (!keptBy[index]) await limiter.forgetAttempt(pairKey);
  }

  async function admitAddress(addressKey: string): Promise<void> {
    const result = await byAddress.begin(addressKey);
    if (!result.allowed) throw rateLimited(result.retryAfterMs);
  }

  return {
    async beforeAttempt(email: string, address: string | null): Promise<LoginTicket> {
      const addressKey = throttleKey(address);
      const pairKey = `${email}\n${addressKey}`;
      // First and alone: a flood from one address stops here, with no database command and before it adds a key
      // anywhere else.
      const addressWait = byAddress.countLocally(addressKey);
      if (addressWait > 0) throw rateLimited(addressWait);
      // Then the pair in this process: spent here, the attempt is refused without a database command either.
      const localPairWaits = pair.map((limiter) => limiter.countLocally(pairKey));
      const localPairWait = Math.max(...localPairWaits);
      if (localPairWait > 0) {
        // No password was checked: the windows that still had room give the attempt back. Otherwise a client
        // retrying through the five-minute wait would spend the hour's and the day's allowance too, and wait a
        // day (LOGIN_LIMITS count failures). The address keeps it: a flood from one address stays bounded.
        await givePairBack(pairKey, localPairWaits.map((wait) => wait > 0));
        throw rateLimited(localPairWait);
      }
      // One round trip for every shared counter the attempt answers to: the address, the three pair windows and
      // the account's delay (an equality find each, sent together; see RateLimitsStore.read).
      let shared: Array<SharedCount | null>;
      try {
        shared = await store.read([byAddress.sharedKey(addressKey), accountDelay.sharedKey(email), ...pair.map((limiter) => limiter.sharedKey(pairKey))]);
      } catch (error) {
        // The database did not answer, so nothing was judged or checked: the attempt gives back all it counted
        // here. A client retrying through an outage would otherwise be refused once the database is back.
        await byAddress.forgetAttempt(addressKey);
        await givePairBack(pairKey);
        throw error;
      }
      const [sharedAddress, accountDelayCount, ...sharedPair] = shared;
      const addressResult = byAddress.judge(sharedAddress ?? null);
      if (!addressResult.allowed) {
        // Refused by the address's shared count, as if the pair had never been looked at: its points come back.
        await givePairBack(pairKey);
        throw rateLimited(addressResult.retryAfterMs);
      }
      const accountWaitMs = accountDelay.remainingFrom(accountDelayCount ?? null);
      // Read only while the account is slowed: the usual attempt costs no read for it.
      const knownAddress = accountWaitMs > 0 && (await knownAddresses.has(pairKey));
      let retryAfterMs = knownAddress ? 0 : accountWaitMs;
      const sharedPairFailures: number[] = [];
      const refusedBy: boolean[] = [];
      for (const [index, limiter] of pair.entries()) {
        const result = limiter.judge(sharedPair[index] ?? null);
        refusedBy.push(!result.allowed);
        if (result.allowed) sharedPairFailures.push(result.sharedFailures);
        else retryAfterMs = Math.max(retryAfterMs, result.retryAfterMs);
      }
      if (retryAfterMs > 0) {
        // Refused unchecked, as above: the attempt stays counted only in the windows that refused it, so this
        // process soon refuses the pair without reading, and the longer windows are not spent by the waiting.
        await givePairBack(pairKey, refusedBy);
        throw rateLimited(retryAfterMs);
      }
      return { pairKey, addressKey, accountKey: email, sharedPairFailures, knownAddress };
    },
    async afterFailure(ticket: LoginTicket): Promise<void> {
      const [accountFailures] = await Promise.all([
        byAccount.recordFailure(ticket.accountKey),
        ...pair.map((limiter) => limiter.recordFailure(ticket.pairKey)),
        byAddress.recordFailure(ticket.addressKey),
      ]);
      const delaySeconds = accountDelaySeconds(accountFailures);
      if (delaySeconds > 0) await accountDelay.impose(ticket.accountKey, delaySeconds);
    },
    async afterSuccess(ticket: LoginTicket): Promise<void> {
      await Promise.all([
        // Each writes only when the shared count held failures: nothing in steady state.
        ...pair.map((limiter, index) => limiter.reset(ticket.pairKey, ticket.sharedPairFailures[index] ?? 1)),
        byAddress.forgetAttempt(ticket.addressKey),
        // Written when this process has not written it within the last day (LOGIN_LIMITS.knownAddress).
        ticket.knownAddress ? Promise.resolve() : knownAddresses.add(ticket.pairKey),
      ]);
    },
    async beforeAddressAttempt(address: string | null): Promise<void> {
      const addressKey = throttleKey(address);
      await admitAddress(addressKey);
      await byAddress.recordFailure(addressKey);
    },
  };
}
