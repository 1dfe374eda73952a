import { Schema, type Model } from 'mongoose';
import type { AccountTokenPurpose } from '../tokens/account-token.js';
import type { Database } from './mongo.js';

/**
 * A mailed one-time token (password reset or email verification). `_id` is the token's keyed hash. The token
 * remembers what it was issued against (the password's change stamp, the address), so a later change voids it
 * without touching the token record.
 */
export interface AccountTokenRecord {
  readonly tokenHash: string;
  readonly purpose: AccountTokenPurpose;
  readonly userId: string;
  /** The address the link was sent to. */
  readonly email: string;
  /** The user's passwordChangedAt when the token was issued: a reset token is void once it differs. */
  readonly passwordChangedAt: Date;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface AccountTokensStore {
  insert(record: AccountTokenRecord): Promise<void>;
  /** Unexpired only: expiry is checked here on read, whatever the TTL index or sweeper has done. */
  findActive(tokenHash: string, now: Date): Promise<AccountTokenRecord | null>;
  /**
   * The newest token of this purpose for this user (latest `createdAt`, ties broken by hash): every other one
   * is superseded. One total order, so of two tokens issued in the same millisecond exactly one is newest.
   */
  newest(userId: string, purpose: AccountTokenPurpose): Promise<AccountTokenRecord | null>;
  /**
   * Marks a token spent by inserting a marker with the token's hash as unique `_id`. 'spent' for exactly one of
   * any number of concurrent callers, on MongoDB and on FerretDB (whose findAndModify is not atomic) alike;
   * 'already-spent' for every other.
   */
  spend(tokenHash: string, at: Date, keepUntil: Date): Promise<'spent' | 'already-spent'>;
  isSpent(tokenHash: string): Promise<boolean>;
}

interface AccountTokenDocument {
  _id: string;
  purpose: AccountTokenPurpose;
  userId: string;
  email: string;
  passwordChangedAt: Date;
  createdAt: Date;
  expiresAt: Date;
}

interface SpentTokenDocument {
  _id: string;
  at: Date;
  /** Kept as long as the token could otherwise be presented; garbage after that. */
  expiresAt: Date;
}

const DUPLICATE_KEY = 11000;

const accountTokenSchema = new Schema<AccountTokenDocument>(
  {
    _id: { type: String, required: true },
    purpose: { type: String, required: true, enum: ['password-reset', 'email-verification'] },
    userId: { type: String, required: true },
    email: { type: String, required: true },
    passwordChangedAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'account_tokens', versionKey: false, strict: 'throw' },
);

const spentTokenSchema = new Schema<SpentTokenDocument>(
  {
    _id: { type: String, required: true },
    at: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'account_tokens_spent', versionKey: false, strict: 'throw' },
);

export async function createAccountTokensStore(database: Database): Promise<AccountTokensStore> {
  const tokens: Model<AccountTokenDocument> = database.connection.model<AccountTokenDocument>('AccountToken', accountTokenSchema);
  const spent: Model<SpentTokenDocument> = database.connection.model<SpentTokenDocument>('SpentAccountToken', spentTokenSchema);
  await database.expireByField(tokens.collection, 'expiresAt');
  await database.expireByField(spent.collection, 'expiresAt');
  await tokens.collection.createIndex({ userId: 1, purpose: 1, createdAt: -1 }, { name: 'userId_purpose_createdAt' });

  return {
    async insert(record: AccountTokenRecord): Promise<void> {
      await tokens.collection.insertOne({
        _id: record.tokenHash,
        purpose: record.purpose,
        userId: record.userId,
        email: record.email,
        passwordChangedAt: record.passwordChangedAt,
        createdAt: record.createdAt,
        expiresAt: record.expiresAt,
      } as never);
    },
    async findActive(tokenHash: string, now: Date): Promise<AccountTokenRecord | null> {
      const found = await tokens.findById(tokenHash).lean<AccountTokenDocument>().exec();
      return found && found.expiresAt > now ? toRecord(found) : null;
    },
    async newest(userId: string, purpose: AccountTokenPurpose): Promise<AccountTokenRecord | null> {
      const found = await tokens.findOne({ userId, purpose }).sort({ createdAt: -1, _id: -1 }).lean<AccountTokenDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async spend(tokenHash: string, at: Date, keepUntil: Date): Promise<'spent' | 'already-spent'> {
      try {
        await spent.collection.insertOne({ _id: tokenHash, at, expiresAt: keepUntil } as never);
        return 'spent';
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) return 'already-spent';
        throw error;
      }
    },
    async isSpent(tokenHash: string): Promise<boolean> {
      return (await spent.exists({ _id: tokenHash }).exec()) !== null;
    },
  };
}

function toRecord(doc: AccountTokenDocument): AccountTokenRecord {
  return {
    tokenHash: doc._id,
    purpose: doc.purpose,
    userId: doc.userId,
    email: doc.email,
    passwordChangedAt: doc.passwordChangedAt,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
  };
}
