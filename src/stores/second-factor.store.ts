import { Schema, type Model } from 'mongoose';
import type { SealedSecret } from '../tokens/second-factor-keys.js';
import type { Database } from './mongo.js';

/** A user's TOTP authenticator: pending until a first code confirms it. The secret is stored sealed only. */
export interface TotpRecord {
  readonly userId: string;
  readonly sealedSecret: SealedSecret;
  readonly createdAt: Date;
  /** null while the enrollment waits for its first code. */
  readonly confirmedAt: Date | null;
  /** The recovery codes of this batch are the valid ones; a regeneration starts a new batch. */
  readonly recoveryBatch: string;
}

export interface SecondFactorStore {
  /** Starts (or restarts) an enrollment. Never replaces a confirmed one: 'exists' then. */
  putPending(record: TotpRecord): Promise<'stored' | 'exists'>;
  find(userId: string): Promise<TotpRecord | null>;
  confirm(userId: string, at: Date, recoveryBatch: string): Promise<void>;
  setRecoveryBatch(userId: string, recoveryBatch: string): Promise<void>;
  remove(userId: string): Promise<void>;
  /**
   * Records that this 30-second step of the user's TOTP was used. A unique insert decides: 'claimed' for exactly
   * one of any number of concurrent callers (FerretDB has no atomic compare-and-set), 'used' for the others.
   */
  claimStep(userId: string, step: number, keepUntil: Date): Promise<'claimed' | 'used'>;
  /** Stores a batch of recovery code hashes. */
  addRecoveryCodes(userId: string, batch: string, hashes: readonly string[]): Promise<void>;
  /** The user and batch of a recovery code hash, if it was ever issued. */
  findRecoveryCode(hash: string): Promise<{ userId: string; batch: string } | null>;
  /** Marks a recovery code spent by a unique insert: 'spent' once ever, 'already-spent' after. */
  spendRecoveryCode(hash: string, at: Date): Promise<'spent' | 'already-spent'>;
  /** Unspent codes of the user's batch. */
  countRecoveryCodesLeft(userId: string, batch: string): Promise<number>;
  removeRecoveryCodes(userId: string): Promise<void>;
}

interface TotpDocument {
  _id: string;
  sealedSecret: SealedSecret;
  createdAt: Date;
  confirmedAt: Date | null;
  recoveryBatch: string;
}

interface RecoveryCodeDocument {
  _id: string;
  userId: string;
  batch: string;
  spentAt: Date | null;
}

const DUPLICATE_KEY = 11000;

const totpSchema = new Schema<TotpDocument>(
  {
    _id: { type: String, required: true },
    sealedSecret: { iv: { type: String, required: true }, tag: { type: String, required: true }, data: { type: String, required: true } },
    createdAt: { type: Date, required: true },
    confirmedAt: { type: Date, default: null },
    recoveryBatch: { type: String, required: true },
  },
  { collection: 'totp_authenticators', versionKey: false, strict: 'throw' },
);

const recoveryCodeSchema = new Schema<RecoveryCodeDocument>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    batch: { type: String, required: true },
    spentAt: { type: Date, default: null },
  },
  { collection: 'recovery_codes', versionKey: false, strict: 'throw' },
);

/** A used TOTP step of a user (`_id` userId:step): a unique insert decides who used it first. */
const usedStepSchema = new Schema<{ _id: string; expiresAt: Date }>(
  { _id: { type: String, required: true }, expiresAt: { type: Date, required: true } },
  { collection: 'totp_used_steps', versionKey: false, strict: 'throw' },
);

/** A spent recovery code (`_id` its hash). */
const spentCodeSchema = new Schema<{ _id: string; at: Date }>(
  { _id: { type: String, required: true }, at: { type: Date, required: true } },
  { collection: 'recovery_codes_spent', versionKey: false, strict: 'throw' },
);

function isDuplicate(error: unknown): boolean {
  return (error as { code?: unknown }).code === DUPLICATE_KEY;
}

export async function createSecondFactorStore(database: Database): Promise<SecondFactorStore> {
  const totp: Model<TotpDocument> = database.connection.model<TotpDocument>('TotpAuthenticator', totpSchema);
  const codes: Model<RecoveryCodeDocument> = database.connection.model<RecoveryCodeDocument>('RecoveryCode', recoveryCodeSchema);
  const usedSteps = database.connection.model('TotpUsedStep', usedStepSchema).collection;
  const spentCodes = database.connection.model('RecoveryCodeSpent', spentCodeSchema).collection;
  await database.expireByField(usedSteps, 'expiresAt');
  await codes.collection.createIndex({ userId: 1, batch: 1 }, { name: 'userId_batch' });

  return {
    async putPending(record: TotpRecord): Promise<'stored' | 'exists'> {
      const existing = await totp.findById(record.userId).lean<TotpDocument>().exec();
      if (existing?.confirmedAt) return 'exists';
      if (existing) await totp.deleteOne({ _id: record.userId, confirmedAt: null }).exec();
      try {
        await totp.collection.insertOne({
          _id: record.userId,
          sealedSecret: record.sealedSecret,
          createdAt: record.createdAt,
          confirmedAt: null,
          recoveryBatch: record.recoveryBatch,
        } as never);
        return 'stored';
      } catch (error) {
        if (isDuplicate(error)) return 'exists';
        throw error;
      }
    },
    async find(userId: string): Promise<TotpRecord | null> {
      const found = await totp.findById(userId).lean<TotpDocument>().exec();
      return found
        ? { userId: found._id, sealedSecret: found.sealedSecret, createdAt: found.createdAt, confirmedAt: found.confirmedAt, recoveryBatch: found.recoveryBatch }
        : null;
    },
    async confirm(userId: string, at: Date, recoveryBatch: string): Promise<void> {
      await totp.updateOne({ _id: userId }, { $set: { confirmedAt: at, recoveryBatch } }).exec();
    },
    async setRecoveryBatch(userId: string, recoveryBatch: string): Promise<void> {
      await totp.updateOne({ _id: userId }, { $set: { recoveryBatch } }).exec();
    },
    async remove(userId: string): Promise<void> {
      await totp.deleteOne({ _id: userId }).exec();
    },
    async claimStep(userId: string, step: number, keepUntil: Date): Promise<'claimed' | 'used'> {
      try {
        await usedSteps.insertOne({ _id: `${userId}:${step}`, expiresAt: keepUntil } as never);
        return 'claimed';
      } catch (error) {
        if (isDuplicate(error)) return 'used';
        throw error;
      }
    },
    async addRecoveryCodes(userId: string, batch: string, hashes: readonly string[]): Promise<void> {
      await codes.collection.insertMany(hashes.map((hash) => ({ _id: hash, userId, batch, spentAt: null })) as never[]);
    },
    async findRecoveryCode(hash: string): Promise<{ userId: string; batch: string } | null> {
      const found = await codes.findById(hash).lean<RecoveryCodeDocument>().exec();
      return found ? { userId: found.userId, batch: found.batch } : null;
    },
    async spendRecoveryCode(hash: string, at: Date): Promise<'spent' | 'already-spent'> {
      try {
        await spentCodes.insertOne({ _id: hash, at } as never);
      } catch (error) {
        if (isDuplicate(error)) return 'already-spent';
        throw error;
      }
      // Only for counting what is left; the unique insert above is what decides.
      await codes.updateOne({ _id: hash }, { $set: { spentAt: at } }).exec();
      return 'spent';
    },
    async countRecoveryCodesLeft(userId: string, batch: string): Promise<number> {
      return codes.countDocuments({ userId, batch, spentAt: null }).exec();
    },
    async removeRecoveryCodes(userId: string): Promise<void> {
      await codes.deleteMany({ userId }).exec();
    },
  };
}
