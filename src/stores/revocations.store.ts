import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * The blocklist: a revoked session (every access token with that `sid`) or one revoked access token (its
 * `jti`). An entry is needed only while an access token it could affect may still be presented, so it expires
 * then; a TTL index (or the sweeper) removes it afterwards.
 */
export interface RevocationRecord {
  readonly kind: 'session' | 'token';
  /** The session id or the token id. */
  readonly id: string;
  /** When it was written, by the writer's clock: what other instances poll on. */
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface RevocationsStore {
  /**
   * Idempotent: writing the same revocation twice keeps one entry. 'inserted' for exactly one of any number of
   * concurrent writers (a unique `_id` insert), which is how a revoke knows it was the one that ended a session.
   */
  add(record: RevocationRecord): Promise<'inserted' | 'exists'>;
  listActive(now: Date): Promise<RevocationRecord[]>;
  listWrittenSince(since: Date, now: Date): Promise<RevocationRecord[]>;
}

interface RevocationDocument {
  _id: string;
  kind: 'session' | 'token';
  id: string;
  at: Date;
  expiresAt: Date;
}

const DUPLICATE_KEY = 11000;

const revocationSchema = new Schema<RevocationDocument>(
  {
    _id: { type: String, required: true },
    kind: { type: String, required: true, enum: ['session', 'token'] },
    id: { type: String, required: true },
    at: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'revocations', versionKey: false, strict: 'throw' },
);

export async function createRevocationsStore(database: Database): Promise<RevocationsStore> {
  const revocations: Model<RevocationDocument> = database.connection.model<RevocationDocument>('Revocation', revocationSchema);
  await database.expireByField(revocations.collection, 'expiresAt');
  await revocations.collection.createIndex({ at: 1 }, { name: 'at' });

  return {
    async add(record: RevocationRecord): Promise<'inserted' | 'exists'> {
      try {
        await revocations.collection.insertOne({ _id: `${record.kind}:${record.id}`, ...record } as never);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
        return 'exists';
      }
    },
    async listActive(now: Date): Promise<RevocationRecord[]> {
      const found = await revocations.find({ expiresAt: { $gt: now } }).lean<RevocationDocument[]>().exec();
      return found.map(toRecord);
    },
    async listWrittenSince(since: Date, now: Date): Promise<RevocationRecord[]> {
      const found = await revocations.find({ at: { $gte: since }, expiresAt: { $gt: now } }).lean<RevocationDocument[]>().exec();
      return found.map(toRecord);
    },
  };
}

function toRecord(doc: RevocationDocument): RevocationRecord {
  return { kind: doc.kind, id: doc.id, at: doc.at, expiresAt: doc.expiresAt };
}
