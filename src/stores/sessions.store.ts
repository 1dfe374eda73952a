import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/** A session: one login and every refresh token rotated from it (a token family). */
export interface SessionRecord {
  readonly id: string;
  readonly userId: string;
  readonly createdAt: Date;
  /** The login or the latest refresh. */
  readonly lastUsedAt: Date;
  /** Absolute end, fixed at login. */
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly userAgent: string | null;
  /** Coarse (a /24 or /48 network), enough to recognise a session, not to locate a person. */
  readonly clientAddress: string | null;
}

export type RevokeReason = 'logout' | 'revoked-by-user' | 'revoked-by-admin' | 'password-changed' | 'refresh-token-reused' | 'user-deleted' | 'password-reset';

export interface SessionsStore {
  create(session: SessionRecord): Promise<void>;
  find(id: string): Promise<SessionRecord | null>;
  /**
   * Marks the session revoked. Idempotent. The only update a session document ever gets: on FerretDB an update
   * rewrites the whole document from what it read, so any other concurrent update (a "last used" stamp, say)
   * could write `revokedAt: null` back over a revoke. "Last used" is therefore read from the refresh tokens.
   */
  revoke(id: string, at: Date, reason: RevokeReason): Promise<void>;
  /** Live sessions of a user: not revoked, not past their absolute end. */
  listActive(userId: string, now: Date): Promise<SessionRecord[]>;
}

interface SessionDocument {
  _id: string;
  userId: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: RevokeReason | null;
  userAgent: string | null;
  clientAddress: string | null;
}

const sessionSchema = new Schema<SessionDocument>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    createdAt: { type: Date, required: true },
    lastUsedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
    revokedReason: { type: String, default: null },
    userAgent: { type: String, default: null },
    clientAddress: { type: String, default: null },
  },
  { collection: 'sessions', versionKey: false, strict: 'throw' },
);

export async function createSessionsStore(database: Database): Promise<SessionsStore> {
  const sessions: Model<SessionDocument> = database.connection.model<SessionDocument>('Session', sessionSchema);
  await database.expireByField(sessions.collection, 'expiresAt');
  await sessions.collection.createIndex({ userId: 1 }, { name: 'userId' });

  return {
    async create(session: SessionRecord): Promise<void> {
      await sessions.create({ _id: session.id, ...withoutId(session), revokedReason: null });
    },
    async find(id: string): Promise<SessionRecord | null> {
      const found = await sessions.findById(id).lean<SessionDocument>().exec();
      return found ? toRecord(found) : null;
    },
    async revoke(id: string, at: Date, reason: RevokeReason): Promise<void> {
      await sessions.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at, revokedReason: reason } }).exec();
    },
    async listActive(userId: string, now: Date): Promise<SessionRecord[]> {
      const found = await sessions.find({ userId, revokedAt: null, expiresAt: { $gt: now } }).sort({ createdAt: 1 }).lean<SessionDocument[]>().exec();
      return found.map(toRecord);
    },
  };
}

function withoutId(session: SessionRecord): Omit<SessionDocument, '_id' | 'revokedReason'> {
  const { id: _id, ...rest } = session;
  return { ...rest };
}

function toRecord(doc: SessionDocument): SessionRecord {
  return {
    id: doc._id,
    userId: doc.userId,
    createdAt: doc.createdAt,
    lastUsedAt: doc.lastUsedAt,
    expiresAt: doc.expiresAt,
    revokedAt: doc.revokedAt,
    userAgent: doc.userAgent,
    clientAddress: doc.clientAddress,
  };
}
