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
  /** How it signed in (RFC 8176 `amr`: pwd, otp, mfa, hwk, swk, user, fed). Step-ups are kept apart (session-step-ups.store.ts). */
  readonly amr: readonly string[];
  /** When the person proved who they are at sign-in (`auth_time`). */
  readonly authTime: Date;
}

export type RevokeReason =
  | 'logout'
  | 'revoked-by-user'
  | 'revoked-by-admin'
  | 'password-changed'
  | 'refresh-token-reused'
  | 'user-deleted'
  | 'password-reset'
  | 'session-limit'
  | 'account-disabled';

export interface SessionsStore {
  create(session: SessionRecord): Promise<void>;
  find(id: string): Promise<SessionRecord | null>;
  /**
   * Marks the session revoked. Idempotent. The only update a session document ever gets: on FerretDB an update
   * rewrites the whole document from what it read, so any other concurrent update (a "last used" stamp, say)
   * could write `revokedAt: null` back over a revoke. "Last used" is therefore read from the refresh tokens.
   */
  revoke(id: string, at: Date, reason: RevokeReason): Promise<void>;
  /** `revoke` for several sessions in one update. */
  revokeMany(ids: readonly string[], at: Date, reason: RevokeReason): Promise<void>;
  /**
   * Live sessions of a user (not revoked, not past their absolute end): the newest `limit`, listed oldest
   * first. Without `limit`, all of them.
   */
  listActive(userId: string, now: Date, options?: { limit?: number }): Promise<SessionRecord[]>;
  /** Ids of a user's live sessions beyond the newest `keep`, oldest first: those a new login pushes out. */
  listActiveBeyond(userId: string, now: Date, keep: number): Promise<string[]>;
  /**
   * Records that these sessions have ended and returns the ids this call was the first to record. A unique
   * insert per session decides, so of concurrent revokes exactly one counts each session (a conditional update
   * cannot: FerretDB 1.x lets both racers "modify").
   */
  claimEnds(sessions: ReadonlyArray<{ id: string; expiresAt: Date }>): Promise<string[]>;
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
  amr?: string[];
  authTime?: Date;
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
    amr: { type: [String], default: undefined },
    authTime: { type: Date, default: undefined },
  },
  { collection: 'sessions', versionKey: false, strict: 'throw' },
);

interface SessionEndDocument {
  _id: string;
  expiresAt: Date;
}

const sessionEndSchema = new Schema<SessionEndDocument>(
  { _id: { type: String, required: true }, expiresAt: { type: Date, required: true } },
  { collection: 'session_ends', versionKey: false, strict: 'throw' },
);

const DUPLICATE_KEY = 11000;

export async function createSessionsStore(database: Database): Promise<SessionsStore> {
  const sessions: Model<SessionDocument> = database.connection.model<SessionDocument>('Session', sessionSchema);
  const ends: Model<SessionEndDocument> = database.connection.model<SessionEndDocument>('SessionEnd', sessionEndSchema);
  await database.expireByField(sessions.collection, 'expiresAt');
  await database.expireByField(ends.collection, 'expiresAt');
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
    async revokeMany(ids: readonly string[], at: Date, reason: RevokeReason): Promise<void> {
      if (ids.length === 0) return;
      await sessions.updateMany({ _id: { $in: [...ids] }, revokedAt: null }, { $set: { revokedAt: at, revokedReason: reason } }).exec();
    },
    async listActive(userId: string, now: Date, options: { limit?: number } = {}): Promise<SessionRecord[]> {
      const query = sessions.find({ userId, revokedAt: null, expiresAt: { $gt: now } }).sort({ createdAt: -1, _id: -1 });
      if (options.limit !== undefined) query.limit(options.limit);
      const found = await query.lean<SessionDocument[]>().exec();
      return found.reverse().map(toRecord);
    },
    async listActiveBeyond(userId: string, now: Date, keep: number): Promise<string[]> {
      const found = await sessions
        .find({ userId, revokedAt: null, expiresAt: { $gt: now } }, { _id: 1 })
        .sort({ createdAt: -1, _id: -1 })
        .skip(keep)
        .lean<Array<{ _id: string }>>()
        .exec();
      return found.reverse().map((doc) => doc._id);
    },
    async claimEnds(ended: ReadonlyArray<{ id: string; expiresAt: Date }>): Promise<string[]> {
      if (ended.length === 0) return [];
      const docs = ended.map((session) => ({ _id: session.id, expiresAt: session.expiresAt }));
      try {
        await ends.collection.insertMany(docs as never[], { ordered: false });
        return ended.map((session) => session.id);
      } catch (error) {
        const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
        if (!Array.isArray(writeErrors) || !writeErrors.every((writeError: { code?: unknown }) => writeError.code === DUPLICATE_KEY)) throw error;
        const refused = new Set(writeErrors.map((writeError: { index: number }) => writeError.index));
        return ended.filter((_session, index) => !refused.has(index)).map((session) => session.id);
      }
    },
  };
}

function withoutId(session: SessionRecord): Omit<SessionDocument, '_id' | 'revokedReason'> {
  const { id: _id, amr, ...rest } = session;
  return { ...rest, amr: [...amr] };
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
    // Sessions stored before sign-in methods were recorded: a password sign-in, proved when it started.
    amr: doc.amr ?? ['pwd'],
    authTime: doc.authTime ?? doc.createdAt,
  };
}
