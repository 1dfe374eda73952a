import mongoose, { type Collection, type Connection } from 'mongoose';
import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './embedded-mongo.js';

/** MongoDB's NotImplemented: FerretDB 1.x answers it to createIndexes with `expireAfterSeconds`. */
const NOT_IMPLEMENTED = 238;
const SWEEP_INTERVAL_MS = 60_000;
/** How often garbage handed to `deleteLater` is deleted: one command per collection each time. */
const DEFERRED_DELETE_INTERVAL_MS = 10_000;
/** Ids in one deferred delete command. */
const DEFERRED_DELETE_BATCH = 1_000;
/**
 * Ids held at most, e.g. while the server is unreachable; more are not held (their documents still expire and the
 * sweeper or TTL index takes them: deferred deletes only make garbage go sooner).
 */
const DEFERRED_DELETE_MAX_PENDING = 100_000;
export const SERVER_SELECTION_TIMEOUT_MS = 3_000;

export interface Database {
  readonly connection: Connection;
  /** True when the server answers a ping: what /readyz reports. */
  ping(): Promise<boolean>;
  /**
   * Makes documents whose `field` is in the past go away eventually. Where the server has TTL indexes they do
   * it; where it lacks them (FerretDB 1.x) a sweeper deletes expired documents periodically. Either way this
   * is garbage collection only: readers check expiry themselves and never rely on its timing.
   */
  expireByField(collection: Collection, field: string): Promise<'ttl-index' | 'sweeper'>;
  /**
   * Deletes the documents whose `field` is one of `values` soon (within about ten seconds, and at close), together
   * with the others handed over meanwhile: one `field: { $in }` command per collection, field and batch. For
   * garbage that no reader depends on being gone, and that expires anyway. FerretDB 1.x deletes (and updates)
   * with a scan of the whole table, by `_id` too (its DELETE does not match the `_id` index's expression), so a
   * delete per request made every request pay for the size of the collection; a batch pays it once
   * (docs/performance.md).
   */
  deleteLater(collection: Collection, field: string, values: readonly string[]): void;
  /** Sends what deleteLater holds now (close does too); resolves once it is deleted or kept for a retry. */
  flushDeletes(): Promise<void>;
  close(): Promise<void>;
}

export async function connectDatabase(config: Config, logger: Logger): Promise<Database> {
  let embedded: EmbeddedMongo | undefined;
  let uri = config.database.uri;
  if (uri === undefined) {
    embedded = await startEmbeddedMongo(config.dataDir, logger);
    uri = embedded.uri;
  } else {
    logger.info({ database: config.database.name }, 'connecting to MongoDB at MONGODB_URI');
  }
  // autoIndex off: indexes are created explicitly by each store, where a server without TTL support is handled.
  const connection = await mongoose
    .createConnection(uri, {
      dbName: config.database.name,
      autoIndex: false,
      autoCreate: false,
      // While the server is unreachable a command fails after this long (MongoServerSelectionError, answered
      // SERVICE_UNAVAILABLE): well inside the 15 s request timeout, so the client hears 503 + Retry-After rather
      // than a dropped connection. The driver finds the server again on its own once it answers.
      serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
      // Command events let tests (and the bench) count round trips, e.g. that an authenticated request makes none.
      monitorCommands: true,
    })
    .asPromise();
  const sweepers: NodeJS.Timeout[] = [];
  const swept: string[] = [];

  async function expireByField(collection: Collection, field: string): Promise<'ttl-index' | 'sweeper'> {
    try {
      await collection.createIndex({ [field]: 1 }, { expireAfterSeconds: 0, name: `${field}_ttl` });
      return 'ttl-index';
    } catch (error) {
      if ((error as { code?: unknown }).code !== NOT_IMPLEMENTED) throw error;
    }
    await collection.createIndex({ [field]: 1 }, { name: `${field}_sweep` });
    const sweep = (): void => {
      collection.deleteMany({ [field]: { $lte: new Date() } }).catch((error: unknown) => {
        logger.warn({ err: error, collection: collection.collectionName }, 'expiry sweep failed; will retry');
      });
    };
    const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
    timer.unref();
    sweepers.push(timer);
    swept.push(collection.collectionName);
    // Said once per process, not once per collection.
    if (swept.length === 1) {
      logger.warn('the database server has no TTL indexes (FerretDB 1.x answers NotImplemented); expired documents are deleted by a sweeper every minute instead');
    }
    logger.debug({ collection: collection.collectionName }, 'expiry sweeper started');
    return 'sweeper';
  }

  // Values to delete by, per collection and field; `pendingCount` is their total.
  const pendingDeletes = new Map<Collection, Map<string, Set<string>>>();
  let pendingCount = 0;
  function deleteLater(collection: Collection, field: string, values: readonly string[]): void {
    let byField = pendingDeletes.get(collection);
    if (!byField) pendingDeletes.set(collection, (byField = new Map()));
    let pending = byField.get(field);
    if (!pending) byField.set(field, (pending = new Set()));
    for (const value of values) {
      if (pending.has(value)) continue;
      if (pendingCount >= DEFERRED_DELETE_MAX_PENDING) return;
      pending.add(value);
      pendingCount++;
    }
  }
  async function deletePending(): Promise<void> {
    const batches = [...pendingDeletes].flatMap(([collection, byField]) => [...byField].map(([field, values]) => ({ collection, field, values: [...values] })));
    pendingDeletes.clear();
    pendingCount = 0;
    await Promise.all(
      batches.map(async ({ collection, field, values }) => {
        for (let from = 0; from < values.length; from += DEFERRED_DELETE_BATCH) {
          const batch = values.slice(from, from + DEFERRED_DELETE_BATCH);
          try {
            await collection.deleteMany({ [field]: { $in: batch } });
          } catch (error) {
            // Kept for the next round: the server may be back by then.
            logger.warn({ err: error, collection: collection.collectionName, values: values.length - from }, 'deferred delete failed; will retry');
            deleteLater(collection, field, values.slice(from));
            return;
          }
        }
      }),
    );
  }
  // One round at a time: a slow round is not overtaken by the next.
  let deleting: Promise<void> = Promise.resolve();
  function flushDeletes(): Promise<void> {
    deleting = deleting.then(deletePending);
    return deleting;
  }
  const deleteTimer = setInterval(() => {
    if (pendingCount > 0) void flushDeletes();
  }, DEFERRED_DELETE_INTERVAL_MS);
  deleteTimer.unref();

  return {
    connection,
    async ping(): Promise<boolean> {
      try {
        const db = connection.db;
        if (!db) return false;
        await db.admin().command({ ping: 1 });
        return true;
      } catch {
        return false;
      }
    },
    expireByField,
    deleteLater,
    flushDeletes,
    async close(): Promise<void> {
      for (const timer of sweepers) clearInterval(timer);
      clearInterval(deleteTimer);
      await flushDeletes();
      await connection.close();
      await embedded?.stop();
    },
  };
}
