import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * A later proof of identity on a live session (re-authentication, a second factor after the fact): newer `amr`
 * and `auth_time` than the session started with. Kept as inserts of their own rather than an update of the
 * session document: on FerretDB an update rewrites the whole document from what it read, and could write a
 * concurrent revoke away (see SessionsStore.revoke).
 */
export interface StepUpRecord {
  readonly sessionId: string;
  readonly amr: readonly string[];
  readonly authTime: Date;
  /** The session's own end: the record is garbage after it. */
  readonly expiresAt: Date;
}

export interface SessionStepUpsStore {
  insert(record: StepUpRecord): Promise<void>;
  /** The newest step-up of a session, if any. */
  latest(sessionId: string): Promise<StepUpRecord | null>;
}

interface StepUpDocument {
  _id: string;
  sessionId: string;
  amr: string[];
  authTime: Date;
  expiresAt: Date;
}

const stepUpSchema = new Schema<StepUpDocument>(
  {
    _id: { type: String, required: true },
    sessionId: { type: String, required: true },
    amr: { type: [String], required: true },
    authTime: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'session_step_ups', versionKey: false, strict: 'throw' },
);

export async function createSessionStepUpsStore(database: Database, newId: () => string): Promise<SessionStepUpsStore> {
  const stepUps: Model<StepUpDocument> = database.connection.model<StepUpDocument>('SessionStepUp', stepUpSchema);
  await database.expireByField(stepUps.collection, 'expiresAt');
  await stepUps.collection.createIndex({ sessionId: 1, authTime: -1 }, { name: 'sessionId_authTime' });
  return {
    async insert(record: StepUpRecord): Promise<void> {
      await stepUps.collection.insertOne({ _id: newId(), sessionId: record.sessionId, amr: [...record.amr], authTime: record.authTime, expiresAt: record.expiresAt } as never);
    },
    async latest(sessionId: string): Promise<StepUpRecord | null> {
      const found = await stepUps.findOne({ sessionId }).sort({ authTime: -1, _id: -1 }).lean<StepUpDocument>().exec();
      return found ? { sessionId: found.sessionId, amr: found.amr, authTime: found.authTime, expiresAt: found.expiresAt } : null;
    },
  };
}
