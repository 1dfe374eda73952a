import { LRUCache } from 'lru-cache';
import { RateLimiterMongo } from 'rate-limiter-flexible';
import type { Collection } from 'mongoose';
import type { Database } from './mongo.js';

export interface LimiterSpec {
  /** Distinguishes the limiters that share the collection. */
  readonly name: string;
  readonly points: number;
  readonly durationSeconds: number;
}

/**
 * One key's shared count, as rate-limiter-flexible's get() answers it: null when the key has no document or its
 * window has ended.
 */
export interface SharedCount {
  readonly consumedPoints: number;
  /** Milliseconds until the window ends (0 once past), -1 for a document that never expires. */
  readonly msBeforeNext: number;
}

/** Where one key's shared count is stored: its limiter's collection, and the document's `key` there. */
export interface SharedKey {
  readonly collection: string;
  readonly key: string;
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
   * Refused when either count is spent; refused in this process, it costs no database command at all. When the
   * read fails, the attempt is given back and the failure thrown.
   */
  begin(key: string): Promise<Attempt>;
  /**
   * begin() in two halves, for a caller that reads several shared counts in one round trip (RateLimitsStore.read):
   * counts the attempt in this process only, and answers 0 when allowed, else the milliseconds until this
   * process's window ends. No database command.
   */
  countLocally(key: string): number;
  /** The second half: the attempt, counted in this process, judged by the shared count read for `sharedKey(key)`. */
  judge(shared: SharedCount | null): Attempt;
  /** Where the key's count is stored, for RateLimitsStore.read. */
  sharedKey(key: string): SharedKey;
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
  /** The same, from the shared count read for `sharedKey(key)` (RateLimitsStore.read). */
  remainingFrom(shared: SharedCount | null): number;
  sharedKey(key: string): SharedKey;
  /** From now, the key waits `seconds` (replacing any shorter or longer wait). */
  impose(key: string, seconds: number): Promise<void>;
}

/** Keys remembered for a while, shared by every instance. */
export interface Marks {
  has(key: string): Promise<boolean>;
  /**
   * Remembered for the marks' duration from now. A key this process wrote within the last `rewriteAfterSeconds`
   * is not written again: it stays remembered for at least the duration less that long.
   */
  add(key: string): Promise<void>;
}

export interface MarksSpec {
  readonly name: string;
  readonly durationSeconds: number;
  /** How long this process trusts a mark it wrote before writing it again (0: every add writes). */
  readonly rewriteAfterSeconds: number;
}

export interface RateLimitsStore {
  limiter(spec: LimiterSpec): Limiter;
  delay(name: string): Delay;
  marks(spec: MarksSpec): Marks;
  /**
   * The shared counts of several keys (limiters' and delays' `sharedKey`s, in any mix) in one round trip (an
   * equality find per key), read exactly as each one's own get() would read it; answered in the order asked.
   */
  read(sharedKeys: readonly SharedKey[]): Promise<Array<SharedCount | null>>;
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

/**
 * Each limiter (and delay) keeps its windows in a collection of its own, `rate_limits.<name>`. rate-limiter-flexible
 * keys its documents by a `key` field, which FerretDB 1.x finds by decoding every document of the collection in
 * its own code: in one shared collection, each of a login's five reads went through every window of every limiter
 * (mail counters, password-reset pairs, the other login windows) and a login paid for all of them five times.
 * Apart, a read goes through its own limiter's windows only, which hold failures alone. Measured with `npm run
 * bench -- --only login` (docs/performance.md). On MongoDB the `key` index answers either way.
 */
export const COLLECTION_PREFIX = 'rate_limits.';
export const collectionOfLimiter = (name: string): string => `${COLLECTION_PREFIX}${name}`;
const MARKS_COLLECTION = 'rate_limit_marks';
const DUPLICATE_KEY = 11000;

interface MarkDocument {
  readonly _id: string;
  readonly expiresAt: Date;
}

/** A document as rate-limiter-flexible's RateLimiterMongo writes it. */
interface LimitDocument {
  readonly key: string;
  readonly points: number;
  readonly expire: Date | null;
}

/**
 * rate-limiter-flexible reads one key per command (get()) and has no multi-key read, while a login checks five
 * counters: this reads the library's own documents directly, with the filter of RateLimiterMongo._get (a window
 * that has ended counts as absent, whether or not the sweeper has deleted it yet) and the reading of
 * RateLimiterMongo._getRateLimiterRes (rate-limiter-flexible 11.4). test/stores/rate-limits.store.test.ts holds
 * the two readings side by side, so a library upgrade that changes its documents fails there.
 */
function sharedCountOf(document: LimitDocument, nowMs: number): SharedCount {
  return {
    consumedPoints: document.points,
    msBeforeNext: document.expire !== null ? Math.max(new Date(document.expire).getTime() - nowMs, 0) : -1,
  };
}

/** A limiter's verdict on an attempt from its key's shared count (null: none recorded). */
function judgeShared(spec: LimiterSpec, shared: SharedCount | null): Attempt {
  const sharedFailures = shared?.consumedPoints ?? 0;
  const sharedWait = shared && sharedFailures >= spec.points ? Math.max(1, shared.msBeforeNext) : 0;
  return sharedWait > 0 ? { allowed: false, retryAfterMs: sharedWait } : { allowed: true, sharedFailures };
}

/** rate-limiter-flexible's block() leaves points + 1 (here 2) on the key until the wait ends. */
function remainingDelayMs(shared: SharedCount | null): number {
  return shared && shared.consumedPoints > 1 ? Math.max(1, shared.msBeforeNext) : 0;
}

export async function createRateLimitsStore(database: Database, options: RateLimitsOptions = {}): Promise<RateLimitsStore> {
  const marksCollection = database.connection.collection<MarkDocument>(MARKS_COLLECTION);
  await database.expireByField(database.connection.collection(MARKS_COLLECTION), 'expiresAt');
  /** Per limiter name: its collection once its indexes exist (made when the limiter is, awaited by its first command). */
  const collections = new Map<string, () => Promise<Collection>>();
  const collectionFor = (name: string): (() => Promise<Collection>) => {
    const known = collections.get(collectionOfLimiter(name));
    if (known) return known;
    const collection = database.connection.collection(collectionOfLimiter(name));
    let ready: Promise<Collection> | undefined;
    const prepare = (): Promise<Collection> => {
      const preparing = (async (): Promise<Collection> => {
        // The library would create a TTL index itself and print an error where the server refuses it.
        await database.expireByField(collection, 'expire');
        // Unique: concurrent first failures of a key upsert one document, not two.
        await collection.createIndex({ key: 1 }, { unique: true, name: 'key_unique' });
        return collection;
      })();
      ready = preparing;
      // Failed (the database away at start): the next command tries again. Callers see the failure themselves.
      preparing.catch(() => {
        if (ready === preparing) ready = undefined;
      });
      return preparing;
    };
    void prepare();
    const get = (): Promise<Collection> => ready ?? prepare();
    collections.set(collectionOfLimiter(name), get);
    return get;
  };
  const mongo = (name: string, points: number, durationSeconds: number): { readonly limiter: RateLimiterMongo; readonly ready: () => Promise<Collection> } => ({
    limiter: new RateLimiterMongo({
      keyPrefix: name,
      points,
      duration: durationSeconds,
      storeClient: database.connection,
      tableName: collectionOfLimiter(name),
      disableIndexesCreation: true,
    }),
    ready: collectionFor(name),
  });
  const sharedKeyOf = (name: string, shared: RateLimiterMongo, key: string): SharedKey => ({ collection: collectionOfLimiter(name), key: shared.getKey(key) });

  return {
    limiter(spec: LimiterSpec): Limiter {
      const { limiter: shared, ready } = mongo(spec.name, spec.points, spec.durationSeconds);
      const local = createLocalCounter(spec, options.localKeys ?? DEFAULT_LOCAL_KEYS);
      return {
        async begin(key: string): Promise<Attempt> {
          const localWait = local.consume(key, Date.now());
          // Already spent here: answered without asking the database, which is what keeps a flood cheap.
          if (localWait > 0) return { allowed: false, retryAfterMs: localWait };
          try {
            await ready();
            return judgeShared(spec, await shared.get(key));
          } catch (error) {
            // The database did not answer: nothing was judged, so the attempt is not counted here either (a client
            // retrying through an outage would otherwise be refused once the database is back).
            local.giveBack(key);
            throw error;
          }
        },
        countLocally(key: string): number {
          return local.consume(key, Date.now());
        },
        judge(sharedCount: SharedCount | null): Attempt {
          return judgeShared(spec, sharedCount);
        },
        sharedKey(key: string): SharedKey {
          return sharedKeyOf(spec.name, shared, key);
        },
        async recordFailure(key: string): Promise<number> {
          await ready();
          return (await shared.penalty(key, 1)).consumedPoints;
        },
        async forgetAttempt(key: string): Promise<void> {
          local.giveBack(key);
        },
        async reset(key: string, sharedFailures: number): Promise<void> {
          local.delete(key);
          if (sharedFailures > 0) {
            await ready();
            await shared.delete(key);
          }
        },
      };
    },
    delay(name: string): Delay {
      // rate-limiter-flexible's block(): the key holds points + 1 until the wait ends.
      const { limiter: shared, ready } = mongo(name, 1, 1);
      return {
        async remainingMs(key: string): Promise<number> {
          await ready();
          return remainingDelayMs(await shared.get(key));
        },
        remainingFrom(sharedCount: SharedCount | null): number {
          return remainingDelayMs(sharedCount);
        },
        sharedKey(key: string): SharedKey {
          return sharedKeyOf(name, shared, key);
        },
        async impose(key: string, seconds: number): Promise<void> {
          await ready();
          await shared.block(key, seconds);
        },
      };
    },
    marks(spec: MarksSpec): Marks {
      const idOf = (key: string): string => `${spec.name}:${key}`;
      // The keys this process wrote lately, capped like the limiters' counts: one evicted is only written again.
      const written =
        spec.rewriteAfterSeconds > 0 ? new LRUCache<string, true>({ max: options.localKeys ?? DEFAULT_LOCAL_KEYS, ttl: spec.rewriteAfterSeconds * 1000 }) : null;
      return {
        async has(key: string): Promise<boolean> {
          const found = await marksCollection.findOne({ _id: idOf(key) }, { projection: { expiresAt: 1 } });
          // Expired and not yet swept counts as absent.
          return found !== null && new Date(found.expiresAt).getTime() > Date.now();
        },
        async add(key: string): Promise<void> {
          if (written?.has(key)) return;
          const expiresAt = new Date(Date.now() + spec.durationSeconds * 1000);
          try {
            await marksCollection.updateOne({ _id: idOf(key) }, { $set: { expiresAt } }, { upsert: true });
          } catch (error) {
            // Two first marks of one key at once: the other insert won, and the mark is there.
            if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
          }
          // Remembered only once written: a write that failed is tried again next time.
          written?.set(key, true);
        },
      };
    },
    async read(sharedKeys: readonly SharedKey[]): Promise<Array<SharedCount | null>> {
      // One equality find per key, all sent at once (one round trip), never one `key: { $in }` find: FerretDB 1.x
      // evaluates $in (and $or) by reading the whole collection, row by row in its own code. Measured on FerretDB
      // 1.24 (docs/performance.md): five keys by $in cost 1.5 ms of its CPU with 20 documents, 53 ms with 2,000 and
      // 510 ms with 20,000; five equality finds 3.5 ms and 16 ms. Each in its own limiter's collection (see
      // COLLECTION_PREFIX); a key of a limiter this store did not make is read where that limiter would keep it.
      return Promise.all(
        sharedKeys.map(async ({ collection: name, key }) => {
          const collection = await (collections.get(name)?.() ?? database.connection.collection(name));
          const found = await collection.findOne<LimitDocument>({ key, $or: [{ expire: { $gt: new Date() } }, { expire: { $eq: null } }] }, { projection: { _id: 0, key: 1, points: 1, expire: 1 } });
          return found ? sharedCountOf(found, Date.now()) : null;
        }),
      );
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
  /** Takes back one counted attempt; a key left with none is forgotten. */
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
      if (window === undefined) return;
      window.points = Math.max(0, window.points - 1);
      // A window holding nothing refuses nothing: dropped, an attempt given back leaves no key behind, and the
      // next attempt's window starts with it (never earlier than this one's would have).
      if (window.points === 0) windows.delete(key);
    },
    delete(key: string): void {
      windows.delete(key);
    },
    size: (): number => windows.size,
  };
}
