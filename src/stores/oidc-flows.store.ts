import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/**
 * What the callback of one sign-in through a provider needs to check it: kept server-side, keyed by the hash of
 * the random value in the browser's flow cookie (whoever reads the database cannot forge the cookie).
 */
export interface OidcFlowRecord {
  /** SHA-256 of the flow cookie's value. */
  readonly id: string;
  readonly provider: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** Already checked: a same-origin path or a URL on an allowed origin. */
  readonly returnTo: string;
  /** `?link=1`: the account the identity is to be linked to; null for a sign-in. */
  readonly linkUserId: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface OidcFlowsStore {
  insert(flow: OidcFlowRecord): Promise<void>;
  /**
   * The flow, once: a unique insert of a spent marker decides, so of two callbacks with one cookie (a replay,
   * a double submit) exactly one gets it, on any server (FerretDB's findAndModify is not atomic). null: unknown,
   * spent or expired (checked here: FerretDB has no TTL index).
   */
  take(id: string, now: Date): Promise<OidcFlowRecord | null>;
}

interface FlowDocument extends Omit<OidcFlowRecord, 'id'> {
  _id: string;
}

const flowSchema = new Schema<FlowDocument>(
  {
    _id: { type: String, required: true },
    provider: { type: String, required: true },
    state: { type: String, required: true },
    nonce: { type: String, required: true },
    codeVerifier: { type: String, required: true },
    returnTo: { type: String, required: true },
    linkUserId: { type: String, default: null },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'oidc_flows', versionKey: false, strict: 'throw' },
);

const spentSchema = new Schema<{ _id: string; expiresAt: Date }>(
  { _id: { type: String, required: true }, expiresAt: { type: Date, required: true } },
  { collection: 'oidc_flows_spent', versionKey: false, strict: 'throw' },
);

const DUPLICATE_KEY = 11000;

export async function createOidcFlowsStore(database: Database): Promise<OidcFlowsStore> {
  const flows: Model<FlowDocument> = database.connection.model<FlowDocument>('OidcFlow', flowSchema);
  const spent = database.connection.model('OidcFlowSpent', spentSchema);
  // Garbage collection only (a TTL index, or a sweeper on FerretDB): take() checks expiry itself.
  await Promise.all([database.expireByField(flows.collection, 'expiresAt'), database.expireByField(spent.collection, 'expiresAt')]);

  return {
    async insert(flow: OidcFlowRecord): Promise<void> {
      const { id, ...rest } = flow;
      await flows.create({ _id: id, ...rest });
    },
    async take(id: string, now: Date): Promise<OidcFlowRecord | null> {
      const found = await flows.findById(id).lean<FlowDocument>().exec();
      if (!found || found.expiresAt.getTime() <= now.getTime()) return null;
      try {
        await spent.create({ _id: id, expiresAt: found.expiresAt });
      } catch (error) {
        if ((error as { code?: unknown }).code === DUPLICATE_KEY) return null;
        throw error;
      }
      await flows.deleteOne({ _id: id }).exec();
      const { _id, ...rest } = found;
      return { id: _id, ...rest };
    },
  };
}
