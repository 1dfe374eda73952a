import type { JWK } from 'jose';
import { Schema, type Model } from 'mongoose';
import type { SealedKey } from '../tokens/key-encryption.js';
import type { Database } from './mongo.js';

export interface StoredSigningKey {
  readonly kid: string;
  readonly alg: 'EdDSA' | 'ES256' | 'RS256' | 'PS256';
  /** 1, 2, 3 …: unique, so of two concurrent rotations (or first starts) exactly one inserts a key. */
  readonly generation: number;
  readonly publicJwk: JWK;
  readonly sealedPrivateJwk: SealedKey;
  readonly publishedAt: Date;
  readonly activatesAt: Date;
  readonly retiresAt: Date | null;
  /**
   * MAC of every field above under a key only the gateway holds (see KeyEncryption.authenticate). Null on a
   * record written before records were MACed; such a record is refused like a forged one.
   */
  readonly mac: string | null;
}

export interface SigningKeysStore {
  list(): Promise<StoredSigningKey[]>;
  insert(key: StoredSigningKey): Promise<'inserted' | 'exists'>;
  /**
   * Schedules a key's retirement together with the record's new MAC (computed by the caller over the record
   * with this retirement); never moves an earlier retirement later.
   */
  retire(kid: string, at: Date, mac: string): Promise<void>;
}

interface SigningKeyDocument extends Omit<StoredSigningKey, 'kid'> {
  _id: string;
}

const DUPLICATE_KEY = 11000;

const signingKeySchema = new Schema<SigningKeyDocument>(
  {
    _id: { type: String, required: true },
    alg: { type: String, required: true },
    generation: { type: Number, required: true },
    publicJwk: { type: Object, required: true },
    sealedPrivateJwk: { type: Object, required: true },
    publishedAt: { type: Date, required: true },
    activatesAt: { type: Date, required: true },
    retiresAt: { type: Date, default: null },
    mac: { type: String, default: null },
  },
  { collection: 'signing_keys', versionKey: false, strict: 'throw', minimize: false },
);

export async function createSigningKeysStore(database: Database): Promise<SigningKeysStore> {
  const keys: Model<SigningKeyDocument> = database.connection.model<SigningKeyDocument>('SigningKey', signingKeySchema);
  await keys.collection.createIndex({ generation: 1 }, { unique: true, name: 'generation_unique' });

  return {
    async list(): Promise<StoredSigningKey[]> {
      const found = await keys.find().sort({ generation: 1 }).lean<SigningKeyDocument[]>().exec();
      return found.map(({ _id, ...rest }) => ({ kid: _id, ...rest, mac: typeof rest.mac === 'string' ? rest.mac : null }));
    },
    async insert(key: StoredSigningKey): Promise<'inserted' | 'exists'> {
      const { kid, ...rest } = key;
      try {
        await keys.collection.insertOne({ _id: kid, ...rest } as never);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) return 'exists';
        throw error;
      }
    },
    async retire(kid: string, at: Date, mac: string): Promise<void> {
      // One write sets both, so the record is never seen with a retirement its MAC does not cover.
      await keys.updateOne({ _id: kid, $or: [{ retiresAt: null }, { retiresAt: { $gt: at } }] }, { $set: { retiresAt: at, mac } }).exec();
    },
  };
}
