import { randomBytes } from 'node:crypto';
import { ConnectionString } from 'mongodb-connection-string-url';
import type { MongoMemoryServer } from 'mongodb-memory-server';
import mongoose from 'mongoose';
import { randomId } from '../src/tokens/ids.js';
import { listeningPid } from './proc.js';

/** The run's database server: MONGODB_URI when set, else an embedded mongod (as test/support/global-setup.ts). */
export interface BenchDatabase {
  readonly source: 'MONGODB_URI' | 'mongodb-memory-server';
  /** The server's own description (buildInfo), for results.json: FerretDB and MongoDB differ a lot in speed. */
  readonly server: Record<string, unknown>;
  /**
   * The server's process when it runs on this machine and /proc shows it (the embedded mongod, or whatever listens
   * on a loopback MONGODB_URI's port): the login figure reports its CPU per login. Undefined otherwise.
   */
  readonly pid: number | undefined;
  /** A database of this run on the server, created lazily by whoever writes to it; dropped by `close`. */
  uriFor(role: string): string;
  /** Inserts `count` live session revocations straight into the 'revocations' collection of that database. */
  seedRevocations(role: string, count: number): Promise<void>;
  /** The argon2id hash the gateway stored for an account: the raw verify rate is measured against it. */
  passwordHashOf(role: string, email: string): Promise<string>;
  /** Drops every database handed out, then stops the embedded server if there is one. */
  close(): Promise<void>;
}

const SEED_BATCH = 1_000;

export async function openBenchDatabase(): Promise<BenchDatabase> {
  const configured = process.env['MONGODB_URI'];
  let embedded: MongoMemoryServer | undefined;
  let baseUri: string;
  if (configured) {
    baseUri = configured;
  } else {
    const { MongoMemoryServer: Embedded } = await import('mongodb-memory-server');
    const server = await Embedded.create();
    embedded = server;
    baseUri = server.getUri();
  }
  const runId = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const names = new Set<string>();
  const connection = await mongoose.createConnection(baseUri, { serverSelectionTimeoutMS: 10_000 }).asPromise();
  const client = connection.getClient();
  const info = (await client.db('admin').command({ buildInfo: 1 })) as Record<string, unknown>;
  const server = { version: info['version'], ...(info['ferretdbVersion'] !== undefined && { ferretdbVersion: info['ferretdbVersion'] }) };

  const nameFor = (role: string): string => {
    const name = `portcullis_bench_${runId}_${role}`;
    names.add(name);
    return name;
  };

  return {
    source: configured ? 'MONGODB_URI' : 'mongodb-memory-server',
    server,
    pid: embedded ? embedded.instanceInfo?.instance.mongodProcess?.pid : loopbackServerPid(baseUri),
    uriFor(role: string): string {
      const uri = new ConnectionString(baseUri);
      uri.pathname = `/${nameFor(role)}`;
      return uri.toString();
    },
    async seedRevocations(role: string, count: number): Promise<void> {
      const collection = client.db(nameFor(role)).collection('revocations');
      const now = Date.now();
      // Numbered 1..count as the gateway numbers its entries (revocations.store.ts): the initial load reads
      // them all, as it would for revocations written before a gateway starts; the steady-state polls start
      // after the highest and do not re-read them (the periodic full reload does, once a minute).
      const at = new Date(now - 5 * 60_000);
      const expiresAt = new Date(now + 60 * 60_000);
      for (let done = 0; done < count; done += SEED_BATCH) {
        const batch = Array.from({ length: Math.min(SEED_BATCH, count - done) }, (_unused, index) => {
          const id = randomId();
          return { _id: `session:${id}`, seq: done + index + 1, kind: 'session', id, at, expiresAt };
        });
        await collection.insertMany(batch as never[], { ordered: false });
      }
    },
    async passwordHashOf(role: string, email: string): Promise<string> {
      const user = await client.db(nameFor(role)).collection('users').findOne({ email });
      const hash: unknown = user?.['passwordHash'];
      if (typeof hash !== 'string') throw new Error(`no stored password hash for ${email}`);
      return hash;
    },
    async close(): Promise<void> {
      try {
        for (const name of names) await client.db(name).dropDatabase();
      } finally {
        await connection.close();
        await embedded?.stop();
      }
    },
  };
}

/** The process serving a one-host URI on this machine's loopback, if /proc shows it; else undefined. */
function loopbackServerPid(uri: string): number | undefined {
  const hosts = new ConnectionString(uri).hosts;
  if (hosts.length !== 1) return undefined;
  const match = /^(?:\[(.+)\]|([^:]+))(?::(\d+))?$/.exec(hosts[0] as string);
  const host = match?.[1] ?? match?.[2];
  if (host !== 'localhost' && host !== '::1' && !host?.startsWith('127.')) return undefined;
  return listeningPid(Number(match?.[3] ?? 27017));
}
