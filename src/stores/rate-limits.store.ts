import { LRUCache } from 'lru-cache';
import { RateLimiterMongo } from 'rate-limiter-flexible';
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
   * Counts the attempt in this process, then reads the shared count: one read, no write, on the happy path.
   * Refused when either count is spent; refused in this process, it costs no database command at all.
   */
  begin(key: string): Promise<Attempt>;
  /** The attempt failed: it counts in the shared store too. Answers the shared failures, this one included. */
  recordFailure(key: string): Promise<number>;
  /** The attempt should not count after all: gives this process's point back. */
  forgetAttempt(key: string): Promise<void>;
  /** Starts the key over. The shared store is written only when it holds failures. */
  reset(key: string, sharedFailures: number): Promise<void>;
}

/** A wait imposed on a key, shared by every instance. */
export interface Delay {
  /** Milliseconds the key must still wait (0: none). One read. */
  remainingMs(key: string): Promise<number>;
  /** From now, the key waits `seconds` (replacing any shorter or longer wait). */
  impose(key: string, seconds: number): Promise<void>;
}

/** Keys remembered for a while, shared by every instance. */
export interface Marks {
  has(key: string): Promise<boolean>;
  /** Remembered for the marks' duration from now. */
  add(key: string): Promise<void>;
}

export interface RateLimitsStore {
  limiter(spec: LimiterSpec): Limiter;
  delay(name: string): Delay;
  marks(spec: { readonly name: string; readonly durationSeconds: number }): Marks;
}

export interface RateLimitsOptions {
  /** Keys each limiter keeps in this process; the least recently used go first. */
  readonly localKeys?: number;
}

/**
 * Enough for every address that is busy at once; an evicted key loses only its in-process count, and the
 * shared store still holds its failures.
 */
export const DEFAULT_LOCAL_KEYS = 10_000;

const COLLECTION = 'rate_limits';

export async function createRateLimitsStore(database: Database, options: RateLimitsOptions = {}): Promise<RateLimitsStore> {
  const collection = database.connection.collection(COLLECTION);
  // The library would create a TTL index itself and print an error where the server refuses it.
  await database.expireByField(collection, 'expire');
  await collection.createIndex({ key: 1 }, { unique: true, name: 'key_unique' });
  const mongo = (name: string, points: number, durationSeconds: number): RateLimiterMongo =>
    new RateLimiterMongo({
      keyPrefix: name,
      points,
      duration: durationSeconds,
      storeClient: database.connection,
      tableName: COLLECTION,
      disableIndexesCreation: true,
    });

  return {
    limiter(spec: LimiterSpec): Limiter {
      const shared = mongo(spec.name, spec.points, spec.durationSeconds);
      const local = createLocalCounter(spec, options.localKeys ?? DEFAULT_LOCAL_KEYS);
      return {
        async begin(key: string): Promise<Attempt> {
          const localWait = local.consume(key, Date.now());
          // Already spent here: answered without asking the database, which is what keeps a flood cheap.
          if (localWait > 0) return { allowed: false, retryAfterMs: localWait };
          const sharedResult = await shared.get(key);
          const sharedFailures = sharedResult?.consumedPoints ?? 0;
          const sharedWait = sharedResult && sharedFailures >= spec.points ? Math.max(1, sharedResult.msBeforeNext) : 0;
          return sharedWait > 0 ? { allowed: false, retryAfterMs: sharedWait } : { allowed: true, sharedFailures };
        },
        async recordFailure(key: string): Promise<number> {
          return (await shared.penalty(key, 1)).consumedPoints;
        },
        async forgetAttempt(key: string): Promise<void> {
          local.giveBack(key);
        },
        async reset(key: string, sharedFailures: number): Promise<void> {
          local.delete(key);
          if (sharedFailures > 0) await shared.delete(key);
        },
      };
    },
    delay(name: string): Delay {
      // rate-limiter-flexible's block(): the key holds points + 1 until the wait ends.
      const shared = mongo(name, 1, 1);
      return {
        async remainingMs(key: string): Promise<number> {
          const result = await shared.get(key);
          return result && result.consumedPoints > 1 ? Math.max(1, result.msBeforeNext) : 0;
        },
        async impose(key: string, seconds: number): Promise<void> {
          await shared.block(key, seconds);
        },
      };
    },
    marks(spec: { readonly name: string; readonly durationSeconds: number }): Marks {
      const shared = mongo(spec.name, 1, spec.durationSeconds);
      return {
        async has(key: string): Promise<boolean> {
          return (await shared.get(key)) !== null;
        },
        async add(key: string): Promise<void> {
          await shared.set(key, 1, spec.durationSeconds);
        },
      };
    },
  };
}

/** This process's attempts on one key within its window. */
interface Window {
  points: number;
  readonly endsAt: number;
}

export interface LocalCounter {
  /** Counts an attempt at `nowMs`: 0 when allowed, else the milliseconds until the key's window ends. */
  consume(key: string, nowMs: number): number;
  giveBack(key: string): void;
  delete(key: string): void;
  /** Keys held now. */
  size(): number;
}

/**
 * Fixed-window counts in a capped LRU map. rate-limiter-flexible's RateLimiterMemory keeps every key it has seen
 * (with a timer each) until its window ends, a day for the longest: one login per fresh email from anywhere
 * grew the heap without bound. lru-cache caps the keys; the counting itself is a few lines.
 */
export function createLocalCounter(spec: LimiterSpec, maxKeys: number): LocalCounter {
  const windows = new LRUCache<string, Window>({ max: maxKeys });
  return {
    consume(key: string, nowMs: number): number {
      let window = windows.get(key);
      if (window === undefined || window.endsAt <= nowMs) {
        window = { points: 0, endsAt: nowMs + spec.durationSeconds * 1000 };
        windows.set(key, window);
      }
      if (window.points >= spec.points) return Math.max(1, window.endsAt - nowMs);
      window.points++;
      return 0;
    },
    giveBack(key: string): void {
      const window = windows.get(key);
      if (window !== undefined) window.points = Math.max(0, window.points - 1);
    },
    delete(key: string): void {
      windows.delete(key);
    },
    size: (): number => windows.size,
  };
}
