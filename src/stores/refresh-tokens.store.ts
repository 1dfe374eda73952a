import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * One refresh token of a session. `_id` is the keyed hash of the token, so the lookup a refresh needs is by
 * `_id` (indexed on every server, FerretDB included) and a stored value is useless to whoever copies it.
 */
export interface RefreshTokenRecord {
  readonly tokenHash: string;
  readonly sessionId: string;
  readonly userId: string;
  /** Idle expiry of this token. */
  readonly expiresAt: Date;
  /** The session's absolute end; no rotation moves it. */
  readonly sessionExpiresAt: Date;
  readonly createdAt: Date;
  readonly userAgent: string | null;
  readonly clientAddress: string | null;
}

export interface RefreshTokensStore {
  /** Inserts by unique `_id`: a second insert of the same hash fails on every MongoDB-wire server. */
  insert(record: RefreshTokenRecord): Promise<void>;
  /** Unexpired only: expiry is checked here on read, whatever the TTL index or sweeper has done. */
  findActive(tokenHash: string, now: Date): Promise<RefreshTokenRecord | null>;
}

interface RefreshTokenDocument {
  _id: string;
  sessionId: string;
  userId: string;
  expiresAt: Date;
  sessionExpiresAt: Date;
  createdAt: Date;
  userAgent: string | null;
  clientAddress: string | null;
}

const refreshTokenSchema = new Schema<RefreshTokenDocument>(
  {
    _id: { type: String, required: true },
    sessionId: { type: String, required: true },
    userId: { type: String, required: true },
    expiresAt: { type: Date, required: true },
    sessionExpiresAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
    userAgent: { type: String, default: null },
    clientAddress: { type: String, default: null },
  },
  { collection: 'refresh_tokens', versionKey: false, strict: 'throw' },
);

export async function createRefreshTokensStore(database: Database): Promise<RefreshTokensStore> {
  const tokens: Model<RefreshTokenDocument> = database.connection.model<RefreshTokenDocument>('RefreshToken', refreshTokenSchema);
  await database.expireByField(tokens.collection, 'expiresAt');

  return {
    async insert(record: RefreshTokenRecord): Promise<void> {
      await tokens.create({
        _id: record.tokenHash,
        sessionId: record.sessionId,
        userId: record.userId,
        expiresAt: record.expiresAt,
        sessionExpiresAt: record.sessionExpiresAt,
        createdAt: record.createdAt,
        userAgent: record.userAgent,
        clientAddress: record.clientAddress,
      });
    },
    async findActive(tokenHash: string, now: Date): Promise<RefreshTokenRecord | null> {
      const found = await tokens.findById(tokenHash).lean<RefreshTokenDocument>().exec();
      if (!found || found.expiresAt <= now || found.sessionExpiresAt <= now) return null;
      return {
        tokenHash: found._id,
        sessionId: found.sessionId,
        userId: found.userId,
        expiresAt: found.expiresAt,
        sessionExpiresAt: found.sessionExpiresAt,
        createdAt: found.createdAt,
        userAgent: found.userAgent,
        clientAddress: found.clientAddress,
      };
    },
  };
}
