import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * Which addresses are verified: one document per user and address, only ever inserted. Kept out of the user
 * document on purpose: on FerretDB an update rewrites the whole document from what it read, so a verification
 * stamped on the user concurrently with a password change could write the old password hash back. An insert
 * races with nothing.
 */
export interface EmailVerificationsStore {
  /** Idempotent: verifying an address twice keeps the first time. */
  markVerified(userId: string, email: string, at: Date): Promise<void>;
  /** When this user verified this address; null when not (or only an address they no longer have). */
  verifiedAt(userId: string, email: string): Promise<Date | null>;
}

interface EmailVerificationDocument {
  /** `${userId}:${email}`: the user id is 24 hex digits, so the pair reads back unambiguously. */
  _id: string;
  userId: string;
  at: Date;
}

const DUPLICATE_KEY = 11000;

const emailVerificationSchema = new Schema<EmailVerificationDocument>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    at: { type: Date, required: true },
  },
  { collection: 'email_verifications', versionKey: false, strict: 'throw' },
);

export async function createEmailVerificationsStore(database: Database): Promise<EmailVerificationsStore> {
  const verifications: Model<EmailVerificationDocument> = database.connection.model<EmailVerificationDocument>('EmailVerification', emailVerificationSchema);
  const keyOf = (userId: string, email: string): string => `${userId}:${email}`;
  return {
    async markVerified(userId: string, email: string, at: Date): Promise<void> {
      try {
        await verifications.collection.insertOne({ _id: keyOf(userId, email), userId, at } as never);
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      }
    },
    async verifiedAt(userId: string, email: string): Promise<Date | null> {
      const found = await verifications.findById(keyOf(userId, email)).lean<EmailVerificationDocument>().exec();
      return found ? found.at : null;
    },
  };
}
