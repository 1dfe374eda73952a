import { RateLimiterMemory, RateLimiterMongo, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from './mongo.js';

export interface LimiterSpec {
  /** Distinguishes the limiters that share the collection. */
  readonly name: string;
  readonly points: number;
  readonly durationSeconds: number;
}

export type Attempt =
  | { readonly allowed: true; /** Failures already recorded in the shared store for this key. */ readonly sharedFailures: number }
  | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * A failure counter per key, in two places: MongoDB (shared by every instance, kept across restarts) and this
 * process (exact under bursts). rate-limiter-flexible's $inc upserts are atomic on MongoDB but read-then-write
 * on FerretDB 1.x, where concurrent failures can be undercounted; the in-process count cannot be, so a burst
 * against one instance is bounded on any server.
 */
export interface Limiter {
  /**
   * Counts the attempt in this process and reads the shared count: one read, no write, on the happy path.
   * Refused when either count is spent.
   */
  begin(key: string): Promise<Attempt>;
  /** The attempt failed: it counts in the shared store too. */
  recordFailure(key: string): Promise<void>;
  /** The attempt should not count after all: gives this process's point back. */
  forgetAttempt(key: string): Promise<void>;
  /** Starts the key over. The shared store is written only when it holds failures. */
  reset(key: string, sharedFailures: number): Promise<void>;
}

export interface RateLimitsStore {
  limiter(spec: LimiterSpec): Limiter;
}

const COLLECTION = 'rate_limits';

export async function createRateLimitsStore(database: Database): Promise<RateLimitsStore> {
  const collection = database.connection.collection(COLLECTION);
  // The library would create a TTL index itself and print an error where the server refuses it.
  await database.expireByField(collection, 'expire');
  await collection.createIndex({ key: 1 }, { unique: true, name: 'key_unique' });

  return {
    limiter(spec: LimiterSpec): Limiter {
      const options = { keyPrefix: spec.name, points: spec.points, duration: spec.durationSeconds };
      const shared = new RateLimiterMongo({ ...options, storeClient: database.connection, tableName: COLLECTION, disableIndexesCreation: true });
      const local = new RateLimiterMemory(options);
      return {
        async begin(key: string): Promise<Attempt> {
          const [localResult, sharedResult] = await Promise.all([
            local.consume(key).then(
              () => 0,
              (rejection: unknown) => {
                // The library rejects with a result when points run out, and with an Error when the store fails.
                if (rejection instanceof RateLimiterRes) return Math.max(1, rejection.msBeforeNext);
                throw rejection;
              },
            ),
            shared.get(key),
          ]);
          const sharedFailures = sharedResult?.consumedPoints ?? 0;
          const sharedWait = sharedResult && sharedFailures >= spec.points ? Math.max(1, sharedResult.msBeforeNext) : 0;
          const retryAfterMs = Math.max(localResult, sharedWait);
          return retryAfterMs > 0 ? { allowed: false, retryAfterMs } : { allowed: true, sharedFailures };
        },
        async recordFailure(key: string): Promise<void> {
          await shared.penalty(key, 1);
        },
        async forgetAttempt(key: string): Promise<void> {
          await local.reward(key, 1);
        },
        async reset(key: string, sharedFailures: number): Promise<void> {
          await Promise.all([local.delete(key), sharedFailures > 0 ? shared.delete(key) : Promise.resolve(false)]);
        },
      };
    },
  };
}
