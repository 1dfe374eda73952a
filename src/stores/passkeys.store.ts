import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/** A registered passkey (WebAuthn credential). The credential id is unique across all accounts. */
export interface PasskeyRecord {
  readonly id: string;
  readonly userId: string;
  /** base64url, as the browser reports it. */
  readonly credentialId: string;
  /** COSE public key, base64url. */
  readonly publicKey: string;
  readonly counter: number;
  readonly transports: readonly string[];
  /** singleDevice (a hardware-bound key) or multiDevice (synced). */
  readonly deviceType: string;
  readonly backedUp: boolean;
  readonly name: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

export interface PasskeysStore {
  /** 'taken' when the credential id is registered already (to this account or another). */
  insert(record: PasskeyRecord): Promise<'inserted' | 'taken'>;
  findByCredentialId(credentialId: string): Promise<PasskeyRecord | null>;
  listForUser(userId: string): Promise<PasskeyRecord[]>;
  /** Records a use: the new signature counter and the time. */
  recordUse(id: string, counter: number, at: Date): Promise<void>;
  rename(userId: string, id: string, name: string): Promise<boolean>;
  remove(userId: string, id: string): Promise<boolean>;
}

interface PasskeyDocument {
  _id: string;
  userId: string;
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

const passkeySchema = new Schema<PasskeyDocument>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    credentialId: { type: String, required: true },
    publicKey: { type: String, required: true },
    counter: { type: Number, required: true },
    transports: { type: [String], default: [] },
    deviceType: { type: String, required: true },
    backedUp: { type: Boolean, required: true },
    name: { type: String, required: true },
    createdAt: { type: Date, required: true },
    lastUsedAt: { type: Date, default: null },
  },
  { collection: 'passkeys', versionKey: false, strict: 'throw' },
);

function toRecord(doc: PasskeyDocument): PasskeyRecord {
  return {
    id: doc._id,
    userId: doc.userId,
    credentialId: doc.credentialId,
    publicKey: doc.publicKey,
    counter: doc.counter,
    transports: doc.transports,
    deviceType: doc.deviceType,
    backedUp: doc.backedUp,
    name: doc.name,
    createdAt: doc.createdAt,
    lastUsedAt: doc.lastUsedAt,
  };
}

export async function createPasskeysStore(database: Database): Promise<PasskeysStore> {
  const passkeys: Model<PasskeyDocument> = database.connection.model<PasskeyDocument>('Passkey', passkeySchema);
  // One account per credential: a unique index decides, whatever two registrations race.
  await passkeys.collection.createIndex({ credentialId: 1 }, { name: 'credentialId_unique', unique: true });
  await passkeys.collection.createIndex({ userId: 1 }, { name: 'userId' });
  return {
    async insert(record: PasskeyRecord): Promise<'inserted' | 'taken'> {
      const { id, ...rest } = record;
      try {
        await passkeys.collection.insertOne({ _id: id, ...rest, transports: [...rest.transports] } as never);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code === 11000) return 'taken';
        throw error;
      }
    },
    async findByCredentialId(credentialId: string): Promise<PasskeyRecord | null> {
      const found = await passkeys.findOne({ credentialId }).lean<PasskeyDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async listForUser(userId: string): Promise<PasskeyRecord[]> {
      const found = await passkeys.find({ userId }).sort({ createdAt: 1, _id: 1 }).lean<PasskeyDocument[]>().exec();
      return found.map(toRecord);
    },
    async recordUse(id: string, counter: number, at: Date): Promise<void> {
      await passkeys.updateOne({ _id: id }, { $set: { counter, lastUsedAt: at } }).exec();
    },
    async rename(userId: string, id: string, name: string): Promise<boolean> {
      const result = await passkeys.updateOne({ _id: id, userId }, { $set: { name } }).exec();
      return result.matchedCount === 1;
    },
    async remove(userId: string, id: string): Promise<boolean> {
      const result = await passkeys.deleteOne({ _id: id, userId }).exec();
      return result.deletedCount === 1;
    },
  };
}
