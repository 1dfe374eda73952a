import { Schema, type Model, Types } from 'mongoose';
import type { Database } from './mongo.js';

/** Security events worth keeping beyond the logs. Never a token, password or secret. */
export interface AuditEvent {
  readonly type:
    | 'refresh-token-reused'
    | 'sessions-revoked'
    | 'password-changed'
    | 'password-reset-requested'
    | 'password-reset'
    | 'email-verification-sent'
    | 'email-verified'
    | 'roles-changed'
    | 'account-disabled'
    | 'account-enabled'
    /** Sign-in through an OpenID Connect provider; `detail` names the provider. */
    | 'oidc-sign-in'
    | 'oidc-sign-up'
    | 'oidc-linked'
    | 'oidc-unlinked'
    | 'signed-in'
    | 'reauthenticated'
    | 'second-factor-failed'
    | 'recovery-code-used'
    | 'totp-enabled'
    | 'totp-disabled'
    | 'recovery-codes-regenerated'
    | 'passkey-added'
    | 'passkey-removed'
    | 'passkey-refused';
  readonly userId: string;
  readonly sessionId: string | null;
  readonly at: Date;
  readonly clientAddress: string | null;
  readonly userAgent: string | null;
  readonly detail: string | null;
}

export interface AuditStore {
  record(event: AuditEvent): Promise<void>;
  listForUser(userId: string): Promise<AuditEvent[]>;
}

interface AuditDocument extends AuditEvent {
  _id: Types.ObjectId;
}

const auditSchema = new Schema<AuditDocument>(
  {
    type: { type: String, required: true },
    userId: { type: String, required: true },
    sessionId: { type: String, default: null },
    at: { type: Date, required: true },
    clientAddress: { type: String, default: null },
    userAgent: { type: String, default: null },
    detail: { type: String, default: null },
  },
  { collection: 'audit_events', versionKey: false, strict: 'throw' },
);

export async function createAuditStore(database: Database): Promise<AuditStore> {
  const events: Model<AuditDocument> = database.connection.model<AuditDocument>('AuditEvent', auditSchema);
  await events.collection.createIndex({ userId: 1, at: 1 }, { name: 'userId_at' });
  return {
    async record(event: AuditEvent): Promise<void> {
      await events.create(event);
    },
    async listForUser(userId: string): Promise<AuditEvent[]> {
      const found = await events.find({ userId }).sort({ at: 1 }).lean<AuditDocument[]>().exec();
      return found.map(({ _id, ...event }) => event);
    },
  };
}
