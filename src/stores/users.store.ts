import { Schema, Types, type Model, type UpdateQuery } from 'mongoose';
import type { Database } from './mongo.js';

/** A user as the rest of the gateway sees it: a plain object, never a mongoose document, never the hash. */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly roles: readonly string[];
  /** A disabled account cannot sign in or refresh; an administrator disables and enables it. */
  readonly disabled: boolean;
  /**
   * Stamped into every access token as `gen`. Ending all of a user's sessions or changing their roles moves it
   * on, and one user-wide revocation entry then names every older token, however many sessions there are.
   */
  readonly tokenGeneration: number;
  readonly passwordChangedAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Stored as the hash of an account that has no password (created through a sign-in provider). No argon2 hash
 * looks like it, so no password ever verifies against it; sign-in checks for it and verifies the dummy hash
 * instead, so such an account answers INVALID_CREDENTIALS in the same time as an unknown email.
 */
export const NO_PASSWORD_HASH = '!none';

export interface NewUser {
  /** Already normalised by the caller (auth/email.ts). */
  readonly email: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
}

export interface UsersStore {
  /** Throws EmailTakenError when the email exists; the unique index decides, so concurrent creates cannot both win. */
  create(user: NewUser): Promise<UserRecord>;
  /** The only way to read a password hash, used by sign-in alone. */
  findWithPasswordHash(email: string): Promise<{ user: UserRecord; passwordHash: string } | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** By the normalised email, without the hash. */
  findByEmail(email: string): Promise<UserRecord | null>;
  /** false for an account created through a sign-in provider that never set a password (null: no such user). */
  hasPassword(id: string): Promise<boolean | null>;
  list(options: { limit: number }): Promise<UserRecord[]>;
  /** Replaces the hash and stamps passwordChangedAt. */
  updatePassword(id: string, passwordHash: string, at: Date): Promise<void>;
  /**
   * The same password under new hash parameters: replaces `previous` with `next` only if `previous` is still the
   * stored hash (a password changed meanwhile wins), and leaves passwordChangedAt alone.
   */
  replacePasswordHash(id: string, previous: string, next: string): Promise<void>;
  /**
   * Moves the token generation on and returns the new value (null: no such user). On a server whose
   * findAndModify is not atomic (FerretDB 1.x) two concurrent calls may both return the same value; that is
   * enough, since each caller only needs a value above that of every token issued before its call.
   */
  advanceTokenGeneration(id: string): Promise<number | null>;
  /** Replaces the roles and moves the token generation on, in one update. null: no such user. */
  setRoles(id: string, roles: readonly string[]): Promise<UserRecord | null>;
  disable(id: string): Promise<UserRecord | null>;
  enable(id: string): Promise<UserRecord | null>;
}

export class EmailTakenError extends Error {
  constructor() {
    super('A user with this email already exists.');
    this.name = 'EmailTakenError';
  }
}

interface UserDocument {
  _id: Types.ObjectId;
  email: string;
  passwordHash: string;
  roles: string[];
  disabled?: boolean;
  tokenGeneration?: number;
  passwordChangedAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

const DUPLICATE_KEY = 11000;

const userSchema = new Schema<UserDocument>(
  {
    email: { type: String, required: true },
    // select: false keeps the hash out of every query that does not ask for it by name.
    passwordHash: { type: String, required: true, select: false },
    roles: { type: [String], required: true, default: [] },
    // Absent on accounts created before these existed: read as false and 0.
    disabled: { type: Boolean },
    tokenGeneration: { type: Number },
    passwordChangedAt: { type: Date, required: true },
  },
  { collection: 'users', timestamps: true, versionKey: false, strict: 'throw' },
);

export async function createUsersStore(database: Database): Promise<UsersStore> {
  const users: Model<UserDocument> = database.connection.model<UserDocument>('User', userSchema);
  await users.collection.createIndex({ email: 1 }, { unique: true, name: 'email_unique' });

  return {
    async create(user: NewUser): Promise<UserRecord> {
      try {
        const created = await users.create({ email: user.email, passwordHash: user.passwordHash, roles: [...user.roles], passwordChangedAt: new Date() });
        return toRecord(created.toObject());
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) throw new EmailTakenError();
        throw error;
      }
    },
    async findWithPasswordHash(email: string): Promise<{ user: UserRecord; passwordHash: string } | null> {
      const found = await users.findOne({ email }).select('+passwordHash').lean<UserDocument>().exec();
      return found ? { user: toRecord(found), passwordHash: found.passwordHash } : null;
    },
    async findById(id: string): Promise<UserRecord | null> {
      if (!Types.ObjectId.isValid(id)) return null;
      const found = await users.findById(id).lean<UserDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async findByEmail(email: string): Promise<UserRecord | null> {
      const found = await users.findOne({ email }).lean<UserDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async hasPassword(id: string): Promise<boolean | null> {
      if (!Types.ObjectId.isValid(id)) return null;
      const found = await users.findById(id).select('+passwordHash').lean<UserDocument>().exec();
      return found ? found.passwordHash !== NO_PASSWORD_HASH : null;
    },
    async list(options: { limit: number }): Promise<UserRecord[]> {
      const found = await users.find().sort({ _id: 1 }).limit(options.limit).lean<UserDocument[]>().exec();
      return found.map(toRecord);
    },
    async updatePassword(id: string, passwordHash: string, at: Date): Promise<void> {
      await users.updateOne({ _id: id }, { $set: { passwordHash, passwordChangedAt: at } }).exec();
    },
    async replacePasswordHash(id: string, previous: string, next: string): Promise<void> {
      await users.updateOne({ _id: id, passwordHash: previous }, { $set: { passwordHash: next } }).exec();
    },
    async advanceTokenGeneration(id: string): Promise<number | null> {
      const updated = await update(id, { $inc: { tokenGeneration: 1 } });
      return updated ? updated.tokenGeneration : null;
    },
    setRoles: (id: string, roles: readonly string[]): Promise<UserRecord | null> => update(id, { $set: { roles: [...roles] }, $inc: { tokenGeneration: 1 } }),
    disable: (id: string): Promise<UserRecord | null> => update(id, { $set: { disabled: true } }),
    enable: (id: string): Promise<UserRecord | null> => update(id, { $set: { disabled: false } }),
  };

  async function update(id: string, change: UpdateQuery<UserDocument>): Promise<UserRecord | null> {
    if (!Types.ObjectId.isValid(id)) return null;
    // An update, then a read: FerretDB 1.x cannot project in findAndModify (the hash is never selected here).
    const { matchedCount } = await users.updateOne({ _id: id }, change).exec();
    if (matchedCount === 0) return null;
    const updated = await users.findById(id).lean<UserDocument>().exec();
    return updated ? toRecord(updated) : null;
  }
}

function toRecord(doc: Omit<UserDocument, 'passwordHash'> & { passwordHash?: string }): UserRecord {
  return {
    id: doc._id.toHexString(),
    email: doc.email,
    roles: [...doc.roles],
    disabled: doc.disabled === true,
    tokenGeneration: doc.tokenGeneration ?? 0,
    passwordChangedAt: doc.passwordChangedAt,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}
