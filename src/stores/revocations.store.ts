import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * The blocklist. An entry is needed only while an access token it could affect may still be presented, so it
 * expires then; a TTL index (or the sweeper) removes it afterwards.
 *
 * - `session`: every access token with that `sid` is revoked.
 * - `token`: the one access token with that `jti` is revoked.
 * - `user`: every access token of the user (`id`) whose `gen` claim is below `belowGeneration`, except those of
 *   `exceptSessionId`, is revoked (`roles: null`) or keeps only the roles listed (`roles`). One entry ends all
 *   of a user's sessions, or narrows their roles, whatever their number.
 */
export type RevocationRecord = SessionRevocation | TokenRevocation | UserRevocation;

interface RevocationBase {
  /** When it was written, by the writer's clock. Informational: readers order entries by `seq`, not by this. */
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface SessionRevocation extends RevocationBase {
  readonly kind: 'session';
  /** The session id. */
  readonly id: string;
}

export interface TokenRevocation extends RevocationBase {
  readonly kind: 'token';
  /** The access token's id. */
  readonly id: string;
}

export interface UserRevocation extends RevocationBase {
  readonly kind: 'user';
  /** The user id. */
  readonly id: string;
  /** Tokens whose `gen` claim is below this are affected; the user's token generation was moved to it. */
  readonly belowGeneration: number;
  /** A session left alone (the caller's own, when it ends the others). */
  readonly exceptSessionId: string | null;
  /** null: the tokens are revoked. A list: the tokens stay valid but keep only these of their roles. */
  readonly roles: readonly string[] | null;
}

/** An entry as read back: with its key and its place in the database's own order. */
export interface StoredRevocation {
  readonly key: string;
  /** Assigned at insert, increasing in the order inserts commit; null for entries written before there was one. */
  readonly seq: number | null;
  readonly record: RevocationRecord;
}

export interface RevocationsStore {
  /**
   * Idempotent: writing the same revocation twice keeps one entry. 'inserted' for exactly one of any number of
   * concurrent writers of one entry (a unique `_id` insert).
   */
  add(record: RevocationRecord): Promise<'inserted' | 'exists'>;
  /** Every stored entry, expired ones not yet removed included: what a full load reads. */
  listAll(): Promise<StoredRevocation[]>;
  /** Entries with `seq` at or above `seq`, in `seq` order: what a poll reads. */
  listFrom(seq: number): Promise<StoredRevocation[]>;
}

interface RevocationDocument {
  _id: string;
  seq?: number;
  kind: 'session' | 'token' | 'user';
  id: string;
  at: Date;
  expiresAt: Date;
  belowGeneration?: number;
  exceptSessionId?: string | null;
  roles?: string[] | null;
}

const DUPLICATE_KEY = 11000;
/** Concurrent writers collide on `seq` and retry; this many collisions in a row means something else is wrong. */
const MAX_INSERT_ATTEMPTS = 50;

const revocationSchema = new Schema<RevocationDocument>(
  {
    _id: { type: String, required: true },
    seq: { type: Number },
    kind: { type: String, required: true, enum: ['session', 'token', 'user'] },
    id: { type: String, required: true },
    at: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    belowGeneration: { type: Number },
    exceptSessionId: { type: String },
    roles: { type: [String], default: undefined },
  },
  { collection: 'revocations', versionKey: false, strict: 'throw' },
);

/** The `_id`: one per distinct revocation, so rewriting the same one is a no-op. */
export function revocationKey(record: RevocationRecord): string {
  if (record.kind !== 'user') return `${record.kind}:${record.id}`;
  const scope = record.roles === null ? 'revoked' : `roles=${[...record.roles].sort().join(',')}`;
  return `user:${record.id}:${record.belowGeneration}:${record.exceptSessionId ?? '*'}:${scope}`;
}

/**
 * Order without clocks. Each entry's `seq` is one more than the highest stored when it is inserted, and a
 * unique index lets only one writer have each number: a writer that loses reads the top again and retries. So
 * an entry can only get number n+1 once n is visible, numbers follow the order inserts commit, and a reader
 * that asks for "from my last number on" sees every later entry, however late its writer's clock or its
 * commit. (A counter document with $inc would need an atomic findAndModify, which FerretDB 1.x lacks; a
 * unique insert has one winner on every server.)
 */
export async function createRevocationsStore(database: Database): Promise<RevocationsStore> {
  const revocations: Model<RevocationDocument> = database.connection.model<RevocationDocument>('Revocation', revocationSchema);
  await database.expireByField(revocations.collection, 'expiresAt');
  // Sparse: entries written before `seq` existed have none, and are still read by every full load.
  await revocations.collection.createIndex({ seq: 1 }, { unique: true, sparse: true, name: 'seq_unique' });

  // Writers of one process take turns: they would only collide with each other on the next number and retry,
  // which under a burst of logouts costs far more round trips than waiting. Other instances may still collide.
  let turn: Promise<unknown> = Promise.resolve();

  async function topSeq(): Promise<number> {
    const [top] = await revocations.find({}, { seq: 1 }).sort({ seq: -1 }).limit(1).lean<Array<{ seq?: number }>>().exec();
    return typeof top?.seq === 'number' ? top.seq : 0;
  }

  async function insertNumbered(record: RevocationRecord): Promise<'inserted' | 'exists'> {
    const key = revocationKey(record);
    for (let attempt = 0; attempt < MAX_INSERT_ATTEMPTS; attempt++) {
      const seq = (await topSeq()) + 1;
      try {
        await revocations.collection.insertOne({ _id: key, seq, ...record } as never);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      }
      // Duplicate: either this revocation is already stored, or another writer took the number first.
      // (FerretDB does not say which index refused the insert, so ask.)
      if (await revocations.exists({ _id: key }).exec()) return 'exists';
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
    }
    throw new Error(`could not store a revocation after ${MAX_INSERT_ATTEMPTS} attempts: too many concurrent writers`);
  }

  return {
    add(record: RevocationRecord): Promise<'inserted' | 'exists'> {
      const result = turn.then(() => insertNumbered(record));
      turn = result.catch(() => undefined);
      return result;
    },
    async listAll(): Promise<StoredRevocation[]> {
      const found = await revocations.find().lean<RevocationDocument[]>().exec();
      return found.map(toStored);
    },
    async listFrom(seq: number): Promise<StoredRevocation[]> {
      const found = await revocations.find({ seq: { $gte: seq } }).sort({ seq: 1 }).lean<RevocationDocument[]>().exec();
      return found.map(toStored);
    },
  };
}

function toStored(doc: RevocationDocument): StoredRevocation {
  return { key: doc._id, seq: typeof doc.seq === 'number' ? doc.seq : null, record: toRecord(doc) };
}

function toRecord(doc: RevocationDocument): RevocationRecord {
  if (doc.kind === 'user') {
    return {
      kind: 'user',
      id: doc.id,
      at: doc.at,
      expiresAt: doc.expiresAt,
      belowGeneration: doc.belowGeneration ?? 0,
      exceptSessionId: doc.exceptSessionId ?? null,
      roles: doc.roles ?? null,
    };
  }
  return { kind: doc.kind, id: doc.id, at: doc.at, expiresAt: doc.expiresAt };
}
