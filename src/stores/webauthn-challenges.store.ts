import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * A WebAuthn challenge, issued for one ceremony: registration (bound to the session that asked) or sign-in
 * (bound to a short-lived cookie, kept here as its hash). `_id` is the challenge itself: it is public (the
 * browser signs it), and only the binding and single use give it meaning.
 */
export interface WebAuthnChallengeRecord {
  readonly challenge: string;
  readonly purpose: 'registration' | 'sign-in';
  readonly userId: string | null;
  readonly sessionId: string | null;
  readonly bindingHash: string | null;
  readonly expiresAt: Date;
}

export interface WebAuthnChallengesStore {
  insert(record: WebAuthnChallengeRecord): Promise<void>;
  /** Expired records too (the caller tells "expired" from "unknown"); the sweeper removes them eventually. */
  find(challenge: string): Promise<WebAuthnChallengeRecord | null>;
  /** Spends the challenge by a unique insert: 'spent' for exactly one caller. */
  spend(challenge: string, keepUntil: Date): Promise<'spent' | 'already-spent'>;
}

interface ChallengeDocument {
  _id: string;
  purpose: 'registration' | 'sign-in';
  userId: string | null;
  sessionId: string | null;
  bindingHash: string | null;
  expiresAt: Date;
  /** Garbage after this: a little after expiry, so an expired challenge still answers "expired" for a while. */
  keepUntil: Date;
}

const challengeSchema = new Schema<ChallengeDocument>(
  {
    _id: { type: String, required: true },
    purpose: { type: String, required: true, enum: ['registration', 'sign-in'] },
    userId: { type: String, default: null },
    sessionId: { type: String, default: null },
    bindingHash: { type: String, default: null },
    expiresAt: { type: Date, required: true },
    keepUntil: { type: Date, required: true },
  },
  { collection: 'webauthn_challenges', versionKey: false, strict: 'throw' },
);

const spentSchema = new Schema<{ _id: string; keepUntil: Date }>(
  { _id: { type: String, required: true }, keepUntil: { type: Date, required: true } },
  { collection: 'webauthn_challenges_spent', versionKey: false, strict: 'throw' },
);

export async function createWebAuthnChallengesStore(database: Database): Promise<WebAuthnChallengesStore> {
  const challenges: Model<ChallengeDocument> = database.connection.model<ChallengeDocument>('WebAuthnChallenge', challengeSchema);
  const spent = database.connection.model<{ _id: string; keepUntil: Date }>('WebAuthnChallengeSpent', spentSchema);
  await database.expireByField(challenges.collection, 'keepUntil');
  await database.expireByField(spent.collection, 'keepUntil');
  return {
    async insert(record: WebAuthnChallengeRecord): Promise<void> {
      await challenges.collection.insertOne({
        _id: record.challenge,
        purpose: record.purpose,
        userId: record.userId,
        sessionId: record.sessionId,
        bindingHash: record.bindingHash,
        expiresAt: record.expiresAt,
        keepUntil: new Date(record.expiresAt.getTime() + 3_600_000),
      } as never);
    },
    async find(challenge: string): Promise<WebAuthnChallengeRecord | null> {
      const found = await challenges.findById(challenge).lean<ChallengeDocument>().exec();
      return found
        ? { challenge: found._id, purpose: found.purpose, userId: found.userId, sessionId: found.sessionId, bindingHash: found.bindingHash, expiresAt: found.expiresAt }
        : null;
    },
    async spend(challenge: string, keepUntil: Date): Promise<'spent' | 'already-spent'> {
      try {
        await spent.collection.insertOne({ _id: challenge, keepUntil } as never);
        return 'spent';
      } catch (error) {
        if ((error as { code?: unknown }).code === 11000) return 'already-spent';
        throw error;
      }
    },
  };
}
