import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * One refresh token of a session. `_id` is the keyed hash of the token, so every lookup is by `_id` (indexed
 * on every server, FerretDB included) and a stored value is useless to whoever copies it. Rotated tokens are
 * kept until they expire: presenting one again is how reuse is detected.
 */
export interface RefreshTokenRecord {
  readonly tokenHash: string;
  readonly sessionId: string;
  readonly userId: string;
  /** 0 for the token issued at login, n+1 for the successor of generation n. */
  readonly generation: number;
  /** Idle expiry of this token. */
  readonly expiresAt: Date;
  /** The session's absolute end; no rotation moves it. */
  readonly sessionExpiresAt: Date;
  readonly createdAt: Date;
}

/** A record as read back. */
export interface StoredRefreshToken extends RefreshTokenRecord {
  /**
   * True once the token was handed out a second time (a retry or a second tab got it after its rotation won):
   * from then on two parties may hold it, so presenting it again after it was spent is reuse once the grace
   * window has passed, as for any token under the grace rule.
   */
  readonly reissued: boolean;
}

export interface RefreshTokensStore {
  /**
   * Inserts by unique `_id`. 'exists' when a record with that hash is already there: this insert is the one
   * primitive that has exactly one winner under contention on MongoDB and on FerretDB alike.
   */
  insert(record: RefreshTokenRecord): Promise<'inserted' | 'exists'>;
  /** Unexpired only: expiry is checked here on read, whatever the TTL index or sweeper has done. */
  findActive(tokenHash: string, now: Date): Promise<StoredRefreshToken | null>;
  /** Sets `reissued`. Idempotent, so a plain update serves on every server (no compare-and-set needed). */
  markReissued(tokenHash: string): Promise<void>;
  /**
   * Deletes these sessions' tokens soon, in a batch with others (Database.deleteLater), not in the caller's round
   * trips: once a session is revoked its tokens are garbage (every refresh reads the session, which refuses), and
   * on FerretDB 1.x a delete by `sessionId` reads the whole collection (49 ms with 1,000 sessions, per logout).
   */
  deleteBySessionsLater(sessionIds: readonly string[]): void;
  /** For each session, when its newest token was issued: the session's "last used". */
  lastIssuedAt(sessionIds: readonly string[]): Promise<Map<string, Date>>;
}

interface RefreshTokenDocument {
  _id: string;
  sessionId: string;
  userId: string;
  generation: number;
  expiresAt: Date;
  sessionExpiresAt: Date;
  createdAt: Date;
  reissued?: boolean;
}

const DUPLICATE_KEY = 11000;

const refreshTokenSchema = new Schema<RefreshTokenDocument>(
  {
    _id: { type: String, required: true },
    sessionId: { type: String, required: true },
    userId: { type: String, required: true },
    generation: { type: Number, required: true },
    expiresAt: { type: Date, required: true },
    sessionExpiresAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
    reissued: { type: Boolean },
  },
  { collection: 'refresh_tokens', versionKey: false, strict: 'throw' },
);

export async function createRefreshTokensStore(database: Database): Promise<RefreshTokensStore> {
  const tokens: Model<RefreshTokenDocument> = database.connection.model<RefreshTokenDocument>('RefreshToken', refreshTokenSchema);
  await database.expireByField(tokens.collection, 'expiresAt');

  return {
    async insert(record: RefreshTokenRecord): Promise<'inserted' | 'exists'> {
      try {
        await tokens.collection.insertOne({
          _id: record.tokenHash,
          sessionId: record.sessionId,
          userId: record.userId,
          generation: record.generation,
          expiresAt: record.expiresAt,
          sessionExpiresAt: record.sessionExpiresAt,
          createdAt: record.createdAt,
        } as never);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) return 'exists';
        throw error;
      }
    },
    async findActive(tokenHash: string, now: Date): Promise<StoredRefreshToken | null> {
      const found = await tokens.findById(tokenHash).lean<RefreshTokenDocument>().exec();
      if (!found || found.expiresAt <= now || found.sessionExpiresAt <= now) return null;
      return {
        tokenHash: found._id,
        sessionId: found.sessionId,
        userId: found.userId,
        generation: found.generation,
        expiresAt: found.expiresAt,
        sessionExpiresAt: found.sessionExpiresAt,
        createdAt: found.createdAt,
        reissued: found.reissued === true,
      };
    },
    async markReissued(tokenHash: string): Promise<void> {
      await tokens.updateOne({ _id: tokenHash }, { $set: { reissued: true } }).exec();
    },
    deleteBySessionsLater(sessionIds: readonly string[]): void {
      database.deleteLater(tokens.collection, 'sessionId', sessionIds);
    },
    async lastIssuedAt(sessionIds: readonly string[]): Promise<Map<string, Date>> {
      const latest = new Map<string, Date>();
      if (sessionIds.length === 0) return latest;
      const found = await tokens.find({ sessionId: { $in: [...sessionIds] } }, { sessionId: 1, createdAt: 1 }).lean<Pick<RefreshTokenDocument, 'sessionId' | 'createdAt'>[]>().exec();
      for (const { sessionId, createdAt } of found) {
        const known = latest.get(sessionId);
        if (!known || createdAt > known) latest.set(sessionId, createdAt);
      }
      return latest;
    },
  };
}
