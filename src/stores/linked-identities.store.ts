import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/** A provider identity linked to an account: the pair (issuer, subject), never the email. */
export interface LinkedIdentityRecord {
  readonly issuer: string;
  readonly subject: string;
  readonly userId: string;
  /** The provider's configured name when it was linked. */
  readonly provider: string;
  /** The email the provider asserted when it was linked (for display only; never used to find anybody). */
  readonly email: string | null;
  readonly linkedAt: Date;
}

export interface LinkedIdentitiesStore {
  find(issuer: string, subject: string): Promise<LinkedIdentityRecord | null>;
  /** `taken`: the pair is linked already (to this account or another); the unique key decides races. */
  insert(identity: LinkedIdentityRecord): Promise<'inserted' | 'taken'>;
  listForUser(userId: string): Promise<LinkedIdentityRecord[]>;
  /** Removes the user's identities at this provider; returns them. */
  removeForUser(userId: string, provider: string): Promise<LinkedIdentityRecord[]>;
  /** Puts back identities removed by mistake (a concurrent unlink that would have left no way in). */
  restore(identities: readonly LinkedIdentityRecord[]): Promise<void>;
}

interface IdentityDocument extends Omit<LinkedIdentityRecord, 'issuer' | 'subject'> {
  /** The pair as one key: a unique insert on _id is exact on every server, and lookups use the _id index. */
  _id: string;
  issuer: string;
  subject: string;
}

const identitySchema = new Schema<IdentityDocument>(
  {
    _id: { type: String, required: true },
    issuer: { type: String, required: true },
    subject: { type: String, required: true },
    userId: { type: String, required: true },
    provider: { type: String, required: true },
    email: { type: String, default: null },
    linkedAt: { type: Date, required: true },
  },
  { collection: 'linked_identities', versionKey: false, strict: 'throw' },
);

const DUPLICATE_KEY = 11000;
const keyOf = (issuer: string, subject: string): string => JSON.stringify([issuer, subject]);

export async function createLinkedIdentitiesStore(database: Database): Promise<LinkedIdentitiesStore> {
  const identities: Model<IdentityDocument> = database.connection.model<IdentityDocument>('LinkedIdentity', identitySchema);
  await Promise.all([
    identities.collection.createIndex({ issuer: 1, subject: 1 }, { unique: true, name: 'issuer_subject_unique' }),
    identities.collection.createIndex({ userId: 1 }, { name: 'userId' }),
  ]);
  const toRecord = ({ _id, ...rest }: IdentityDocument): LinkedIdentityRecord => rest;

  return {
    async find(issuer: string, subject: string): Promise<LinkedIdentityRecord | null> {
      const found = await identities.findById(keyOf(issuer, subject)).lean<IdentityDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async insert(identity: LinkedIdentityRecord): Promise<'inserted' | 'taken'> {
      try {
        await identities.create({ _id: keyOf(identity.issuer, identity.subject), ...identity });
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) return 'taken';
        throw error;
      }
    },
    async listForUser(userId: string): Promise<LinkedIdentityRecord[]> {
      const found = await identities.find({ userId }).sort({ linkedAt: 1 }).lean<IdentityDocument[]>().exec();
      return found.map(toRecord);
    },
    async removeForUser(userId: string, provider: string): Promise<LinkedIdentityRecord[]> {
      const found = await identities.find({ userId, provider }).lean<IdentityDocument[]>().exec();
      if (found.length > 0) await identities.deleteMany({ _id: { $in: found.map((doc) => doc._id) } }).exec();
      return found.map(toRecord);
    },
    async restore(restored: readonly LinkedIdentityRecord[]): Promise<void> {
      for (const identity of restored) {
        await identities.create({ _id: keyOf(identity.issuer, identity.subject), ...identity }).catch(() => undefined);
      }
    },
  };
}
