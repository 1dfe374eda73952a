import mongoose, { type Collection, type Connection } from 'mongoose';
import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './embedded-mongo.js';

/** MongoDB's NotImplemented: FerretDB 1.x answers it to createIndexes with `expireAfterSeconds`. */
const NOT_IMPLEMENTED = 238;
const SWEEP_INTERVAL_MS = 60_000;
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
    async close(): Promise<void> {
      for (const timer of sweepers) clearInterval(timer);
      await connection.close();
      await embedded?.stop();
    },
  };
}
