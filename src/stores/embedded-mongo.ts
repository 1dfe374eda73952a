import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { MongoMemoryServer } from 'mongodb-memory-server';
import type { Logger } from '../logger.js';

export interface EmbeddedMongo {
  readonly uri: string;
  stop(): Promise<void>;
}

interface Handoff {
  readonly uri: string;
  readonly pid: number;
}

/**
 * The development database: a real mongod started by mongodb-memory-server, with its files under
 * DATA_DIR/mongodb so users survive a restart. Only one mongod can own those files, so the process that
 * starts it writes DATA_DIR/mongod.json and a second process (the user CLI while the server runs) connects
 * to that one instead of starting another.
 */
export async function startEmbeddedMongo(dataDir: string, logger: Logger): Promise<EmbeddedMongo> {
  const handoffPath = join(dataDir, 'mongod.json');
  const running = await findRunning(handoffPath);
  if (running) {
    logger.info({ pid: running.pid }, 'using the embedded MongoDB already started by another Portcullis process');
    return { uri: running.uri, stop: async (): Promise<void> => {} };
  }

  const dbPath = join(dataDir, 'mongodb');
  mkdirSync(dbPath, { recursive: true, mode: 0o700 });
  logger.info(
    { dbPath },
    'no MONGODB_URI: starting an embedded MongoDB (mongodb-memory-server); the first start downloads mongod (about 100 MB) and may take a minute',
  );
  const server = await MongoMemoryServer.create({ instance: { dbPath, storageEngine: 'wiredTiger', ip: '127.0.0.1' } });
  const uri = server.getUri();
  writeFileSync(handoffPath, JSON.stringify({ uri, pid: process.pid } satisfies Handoff), { mode: 0o600 });
  logger.info('embedded MongoDB is up');
  return {
    uri,
    async stop(): Promise<void> {
      rmSync(handoffPath, { force: true });
      // Keep the files: they are the development database.
      await server.stop({ doCleanup: false });
    },
  };
}

async function findRunning(handoffPath: string): Promise<Handoff | undefined> {
  let handoff: Handoff;
  try {
    handoff = JSON.parse(readFileSync(handoffPath, 'utf8')) as Handoff;
  } catch {
    return undefined;
  }
  if (typeof handoff.uri !== 'string' || typeof handoff.pid !== 'number' || !isAlive(handoff.pid)) return undefined;
  const client = new mongoose.mongo.MongoClient(handoff.uri, { serverSelectionTimeoutMS: 1500 });
  try {
    await client.db('admin').command({ ping: 1 });
    return handoff;
  } catch {
    return undefined;
  } finally {
    await client.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
