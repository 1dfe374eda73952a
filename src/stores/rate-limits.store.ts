import { RateLimiterMemory, RateLimiterMongo, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Database } from './mongo.js';

export interface LimiterSpec {
  /** Distinguishes the limiters that share the collection. */
  readonly name: string;
  readonly points: number;
  readonly durationSeconds: number;
}

/** A counter per key: spend a point per attempt; refused for `retryAfterMs` once the points are spent. */
export interface Limiter {
  consume(key: string): Promise<{ readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number }>;
  /** Gives one point back (an attempt that turned out not to count). */
  refund(key: string): Promise<void>;
  /** Forgets the key (e.g. after a successful login). */
  reset(key: string): Promise<void>;
}

export interface RateLimitsStore {
  limiter(spec: LimiterSpec): Limiter;
}

const COLLECTION = 'rate_limits';

/**
 * Counters kept with rate-limiter-flexible in MongoDB, so they are shared by every instance and survive
 * restarts. Its $inc upserts are atomic on MongoDB; FerretDB 1.x performs them read-then-write, so a burst of
 * concurrent attempts can be undercounted there. Each limiter is therefore paired with an in-process twin, and
 * an attempt is refused when either is exhausted: this instance's bursts are counted exactly on any server.
 */
export async function createRateLimitsStore(database: Database): Promise<RateLimitsStore> {
  const collection = database.connection.collection(COLLECTION);
  // The library would create a TTL index itself and print an error where the server refuses it.
  await database.expireByField(collection, 'expire');
  await collection.createIndex({ key: 1 }, { unique: true, name: 'key_unique' });

  return {
    limiter(spec: LimiterSpec): Limiter {
      const options = { keyPrefix: spec.name, points: spec.points, duration: spec.durationSeconds };
      const limiters: RateLimiterAbstract[] = [
        new RateLimiterMongo({ ...options, storeClient: database.connection, tableName: COLLECTION, disableIndexesCreation: true }),
        new RateLimiterMemory(options),
      ];
      return {
        async consume(key: string) {
          const results = await Promise.all(
            limiters.map((limiter) =>
              limiter.consume(key).then(
                () => 0,
                (rejection: unknown) => {
                  // The library rejects with a result when points run out, and with an Error when the store fails.
                  if (rejection instanceof RateLimiterRes) return Math.max(1, rejection.msBeforeNext);
                  throw rejection;
                },
              ),
            ),
          );
          const retryAfterMs = Math.max(...results);
          return retryAfterMs > 0 ? { allowed: false, retryAfterMs } : { allowed: true };
        },
        async refund(key: string): Promise<void> {
          await Promise.all(limiters.map((limiter) => limiter.reward(key, 1)));
        },
        async reset(key: string): Promise<void> {
          await Promise.all(limiters.map((limiter) => limiter.delete(key)));
        },
      };
    },
  };
}
