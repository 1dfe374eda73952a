import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * A password that was right, waiting for its second factor. `_id` is the challenge's keyed hash; the challenge
 * itself only ever travels to the client. With `sessionId` it is a step-up of that live session.
 */
export interface MfaChallengeRecord {
  readonly challengeHash: string;
  readonly userId: string;
  readonly sessionId: string | null;
  /** What was already proved (e.g. ['pwd']). */
  readonly amr: readonly string[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface MfaChallengesStore {
  insert(record: MfaChallengeRecord): Promise<void>;
  /** Unexpired only: expiry is checked here on read (FerretDB has no TTL indexes). */
  findActive(challengeHash: string, now: Date): Promise<MfaChallengeRecord | null>;
  /**
   * Takes one of the challenge's `max` attempts; the attempt number, or null when all are taken. Each attempt is a
   * unique insert, so concurrent guesses cannot share a slot: never more than `max` codes are tried per challenge.
   */
  claimAttempt(challengeHash: string, max: number, keepUntil: Date): Promise<number | null>;
  /** Spends the challenge: 'spent' for exactly one caller, 'already-spent' for every other. */
  spend(challengeHash: string, keepUntil: Date): Promise<'spent' | 'already-spent'>;
}

interface MfaChallengeDocument {
  _id: string;
  userId: string;
  sessionId: string | null;
  amr: string[];
  createdAt: Date;
  expiresAt: Date;
}

const DUPLICATE_KEY = 11000;

const challengeSchema = new Schema<MfaChallengeDocument>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    sessionId: { type: String, default: null },
    amr: { type: [String], required: true },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'mfa_challenges', versionKey: false, strict: 'throw' },
);

/** Attempt and spend marks of challenges (`_id` attempt:<hash>:<n> or spent:<hash>): unique inserts decide. */
const markSchema = new Schema<{ _id: string; expiresAt: Date }>(
  { _id: { type: String, required: true }, expiresAt: { type: Date, required: true } },
  { collection: 'mfa_challenge_marks', versionKey: false, strict: 'throw' },
);

export async function createMfaChallengesStore(database: Database): Promise<MfaChallengesStore> {
  const challenges: Model<MfaChallengeDocument> = database.connection.model<MfaChallengeDocument>('MfaChallenge', challengeSchema);
  const marks = database.connection.model('MfaChallengeMark', markSchema).collection;
  await database.expireByField(challenges.collection, 'expiresAt');
  await database.expireByField(marks, 'expiresAt');

  async function mark(id: string, keepUntil: Date): Promise<boolean> {
    try {
      await marks.insertOne({ _id: id, expiresAt: keepUntil } as never);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  return {
    async insert(record: MfaChallengeRecord): Promise<void> {
      await challenges.collection.insertOne({
        _id: record.challengeHash,
        userId: record.userId,
        sessionId: record.sessionId,
        amr: [...record.amr],
        createdAt: record.createdAt,
        expiresAt: record.expiresAt,
      } as never);
    },
    async findActive(challengeHash: string, now: Date): Promise<MfaChallengeRecord | null> {
      const found = await challenges.findById(challengeHash).lean<MfaChallengeDocument>().exec();
      if (!found || found.expiresAt <= now) return null;
      return { challengeHash: found._id, userId: found.userId, sessionId: found.sessionId, amr: found.amr, createdAt: found.createdAt, expiresAt: found.expiresAt };
    },
    async claimAttempt(challengeHash: string, max: number, keepUntil: Date): Promise<number | null> {
      for (let attempt = 1; attempt <= max; attempt++) {
        if (await mark(`attempt:${challengeHash}:${attempt}`, keepUntil)) return attempt;
      }
      return null;
    },
    async spend(challengeHash: string, keepUntil: Date): Promise<'spent' | 'already-spent'> {
      return (await mark(`spent:${challengeHash}`, keepUntil)) ? 'spent' : 'already-spent';
    },
  };
}
