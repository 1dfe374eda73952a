import type { Database } from './mongo.js';

/**
 * The blocklist. An entry is needed only while an access token it could affect may still be presented, so it
 * expires then; a TTL index (or the sweeper) removes it afterwards.
 *
 * - `session`: every access token with that `sid` is revoked.
 * - `token`: the one access token with that `jti` is revoked.
 * - `user`: every access token of the user (`id`) whose `gen` claim is below `belowGeneration`, except those of
 *   `exceptSessionId`, is revoked (`roles: null`) or keeps only the roles listed (`roles`). One entry ends all
 *   of a user's sessions, or narrows their roles, whatever their number.
 */
export type RevocationRecord = SessionRevocation | TokenRevocation | UserRevocation;

interface RevocationBase {
  /** When it was written, by the writer's clock. Informational: readers order entries by `seq`, not by this. */
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface SessionRevocation extends RevocationBase {
  readonly kind: 'session';
  /** The session id. */
  readonly id: string;
}

export interface TokenRevocation extends RevocationBase {
  readonly kind: 'token';
  /** The access token's id. */
  readonly id: string;
}

export interface UserRevocation extends RevocationBase {
  readonly kind: 'user';
  /** The user id. */
  readonly id: string;
  /** Tokens whose `gen` claim is below this are affected; the user's token generation was moved to it. */
  readonly belowGeneration: number;
  /** A session left alone (the caller's own, when it ends the others). */
  readonly exceptSessionId: string | null;
  /** null: the tokens are revoked. A list: the tokens stay valid but keep only these of their roles. */
  readonly roles: readonly string[] | null;
}

/** An entry as read back: with its key and its place in the database's own order. */
export interface StoredRevocation {
  readonly key: string;
  /** Assigned at insert, increasing in the order inserts commit; null for entries written before there was one. */
  readonly seq: number | null;
  readonly record: RevocationRecord;
}

export interface RevocationsStore {
  /**
   * Idempotent: writing the same revocation twice keeps one entry. 'inserted' for exactly one of any number of
   * concurrent writers of one entry (a unique `_id` insert).
   */
  add(record: RevocationRecord): Promise<'inserted' | 'exists'>;
  /** Every stored entry, expired ones not yet removed included: what a full load reads. */
  listAll(): Promise<StoredRevocation[]>;
  /**
   * What a poll reads: the entries numbered `seq`, `seq + 1`, … up to the first number nobody has published (at
   * most `limit` of them), each read from the feed by its `_id`.
   */
  readFrom(seq: number, limit: number): Promise<FeedRead>;
}

export interface FeedRead {
  /** Consecutive from the number asked for; empty when that one is not published. */
  readonly entries: StoredRevocation[];
  /**
   * The number after the first missing one is published: the missing one is a hole (its writer has not published
   * yet, or never will: it stopped between its two inserts, or predates the feed), not the end of the feed.
   */
  readonly holeBelow: boolean;
}

interface RevocationFields {
  kind: 'session' | 'token' | 'user';
  id: string;
  at: Date;
  expiresAt: Date;
  belowGeneration?: number;
  exceptSessionId?: string | null;
  roles?: string[] | null;
}

interface RevocationDocument extends RevocationFields {
  _id: string;
  seq?: number;
}

/** A feed entry: `_id` is its number as a string (FerretDB finds by `_id` only for strings and ObjectIds). */
interface FeedDocument extends RevocationFields {
  _id: string;
  seq: number;
  key: string;
}

const DUPLICATE_KEY = 11000;
/** A poll's first read: the entry it ended on, the next number, and the one after. */
const FIRST_WINDOW = 3;
const MAX_WINDOW = 64;
/** Concurrent writers collide on `seq` and retry; this many collisions in a row means something else is wrong. */
const MAX_INSERT_ATTEMPTS = 50;

const REVOCATIONS = 'revocations';
const FEED = 'revocation_feed';
/**
 * Marks the view's reads (polls and full loads) on the wire, so that tools and tests counting a request's
 * commands can tell them from that request's own: they run on a timer, whatever the requests do.
 */
export const REVOCATION_VIEW_COMMENT = 'revocation view';

/** The `_id`: one per distinct revocation, so rewriting the same one is a no-op. */
export function revocationKey(record: RevocationRecord): string {
  if (record.kind !== 'user') return `${record.kind}:${record.id}`;
  const scope = record.roles === null ? 'revoked' : `roles=${[...record.roles].sort().join(',')}`;
  return `user:${record.id}:${record.belowGeneration}:${record.exceptSessionId ?? '*'}:${scope}`;
}

/**
 * Order without clocks. Each entry's `seq` is one more than the highest taken when it is inserted, and a unique
 * index lets only one writer have each number: a writer that loses asks the database for the top and retries.
 * So an entry can only get number n+1 once n is visible, numbers follow the order inserts commit, and a reader
 * that asks for "from my last number on" sees every later entry, however late its writer's clock or its commit.
 * (A counter document with $inc would need an atomic findAndModify, which FerretDB 1.x lacks; a unique insert
 * has one winner on every server.)
 *
 * Two collections, because FerretDB 1.x answers only an `_id` equality from an index: any other filter or sort
 * reads the whole collection, which under a burst of logouts cost every revocation two scans (the top number,
 * and each instance's poll four times a second) and starved the polls (docs/performance.md). So:
 * - `revocations` (`_id`: the entry's key) holds each entry once, with its number: idempotent writes, the full
 *   loads, and the numbering, whose unique index every writer shares.
 * - `revocation_feed` (`_id`: the number) publishes each numbered entry again, so that a poll reads "number n"
 *   by `_id`. A writer publishes right after its insert. A number it never publishes (it stopped in between, or
 *   runs a release before the feed) is a hole, which the view steps over with a full load once something lies
 *   beyond it (revocation-view.ts).
 * A writer takes its next number from the highest it has seen (once a find by `_id` shows it is still there),
 * not from a scan; only a collision (another instance wrote meanwhile) or a sweep asks the database for the top.
 */
export async function createRevocationsStore(database: Database): Promise<RevocationsStore> {
  const revocations = database.connection.collection<RevocationDocument>(REVOCATIONS);
  const feed = database.connection.collection<FeedDocument>(FEED);
  await database.expireByField(database.connection.collection(REVOCATIONS), 'expiresAt');
  await database.expireByField(database.connection.collection(FEED), 'expiresAt');
  // Sparse: entries written before `seq` existed have none, and are still read by every full load.
  await revocations.createIndex({ seq: 1 }, { unique: true, sparse: true, name: 'seq_unique' });

  // Writers of one process take turns: they would only collide with each other on the next number and retry,
  // which under a burst of logouts costs far more round trips than waiting. Other instances may still collide.
  let turn: Promise<unknown> = Promise.resolve();
  /** The highest number this process knows to be taken (written or read); null until it has asked. */
  let highest: number | null = null;

  function saw(seq: number | null | undefined): void {
    if (typeof seq === 'number' && (highest === null || seq > highest)) highest = seq;
  }

  /** The highest number in either collection: a scan each, so only at the first write and after a collision. */
  async function topSeq(): Promise<number> {
    const tops = await Promise.all(
      [revocations.find({}, { projection: { seq: 1 } }), feed.find({}, { projection: { seq: 1 } })].map((cursor) => cursor.sort({ seq: -1 }).limit(1).toArray()),
    );
    return Math.max(0, ...tops.map(([top]) => top?.seq ?? 0));
  }

  /**
   * The number to go on after: the highest this process has seen, as long as the feed still has it. Gone means
   * every entry up to it expired and was swept, and a writer started since may already number from 1 again: it
   * asks the database then, so that all writers continue one numbering (the one the readers follow).
   */
  async function lastTaken(): Promise<number> {
    if (highest !== null && (await feed.findOne({ _id: String(highest) }, { projection: { _id: 1 } }))) return highest;
    highest = await topSeq();
    return highest;
  }

  /**
   * Publishes a numbered entry in the feed. Already there (a retry): done. Another entry under that number can
   * only be a leftover from before the numbering restarted (every entry had expired): it is replaced.
   */
  async function publish(doc: RevocationDocument): Promise<void> {
    if (typeof doc.seq !== 'number') return;
    const { _id: key, seq, ...fields } = doc;
    const entry: FeedDocument = { ...fields, _id: String(seq), seq, key };
    try {
      await feed.insertOne(entry);
    } catch (error) {
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      const present = await feed.findOne({ _id: entry._id }, { projection: { key: 1 } });
      if (present?.key === key) return;
      await feed.replaceOne({ _id: entry._id }, entry, { upsert: true });
    }
  }

  async function insertNumbered(record: RevocationRecord): Promise<'inserted' | 'exists'> {
    const key = revocationKey(record);
    for (let attempt = 0; attempt < MAX_INSERT_ATTEMPTS; attempt++) {
      const seq = (await lastTaken()) + 1;
      const doc = toDocument(key, seq, record);
      try {
        await revocations.insertOne(doc as never);
        saw(seq);
        await publish(doc);
        return 'inserted';
      } catch (error) {
        if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      }
      // Duplicate: either this revocation is already stored, or another writer took the number first.
      // (FerretDB does not say which index refused the insert, so ask.)
      const existing = await revocations.findOne({ _id: key });
      if (existing) {
        // Its writer may have stopped before publishing it: publishing again is harmless.
        saw(existing.seq);
        await publish(existing);
        return 'exists';
      }
      highest = await topSeq();
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
    }
    throw new Error(`could not store a revocation after ${MAX_INSERT_ATTEMPTS} attempts: too many concurrent writers`);
  }

  return {
    add(record: RevocationRecord): Promise<'inserted' | 'exists'> {
      const result = turn.then(() => insertNumbered(record));
      turn = result.catch(() => undefined);
      return result;
    },
    async listAll(): Promise<StoredRevocation[]> {
      const found = await revocations.find({}, { comment: REVOCATION_VIEW_COMMENT }).toArray();
      for (const doc of found) saw(doc.seq);
      return found.map((doc) => toStored(doc._id, doc));
    },
    async readFrom(seq: number, limit: number): Promise<FeedRead> {
      // Numbers are read a window at a time, in parallel: one round trip when nothing is new (the window of three
      // is the last entry seen, the next number and the one after it, which tells a hole from the end), and
      // windows that double while every number is there. Under load a round trip can cost a whole event-loop turn.
      const entries: StoredRevocation[] = [];
      let next = seq;
      let width = FIRST_WINDOW;
      for (;;) {
        const numbers = Array.from({ length: Math.min(width, limit - entries.length + 1) }, (_unused, index) => next + index);
        const docs = await Promise.all(numbers.map((number) => feed.findOne({ _id: String(number) }, { comment: REVOCATION_VIEW_COMMENT })));
        let index = 0;
        for (; index < docs.length && entries.length < limit; index++) {
          const doc = docs[index];
          if (!doc) break;
          saw(doc.seq);
          entries.push(toStored(doc.key, doc));
        }
        if (entries.length >= limit) return { entries, holeBelow: false };
        if (index < docs.length) {
          const beyond = index + 1 < docs.length ? docs[index + 1] : await feed.findOne({ _id: String(next + index + 1) }, { projection: { _id: 1 }, comment: REVOCATION_VIEW_COMMENT });
          return { entries, holeBelow: beyond !== null && beyond !== undefined };
        }
        next += docs.length;
        width = Math.min(width * 2, MAX_WINDOW);
      }
    },
  };
}

function toDocument(key: string, seq: number, record: RevocationRecord): RevocationDocument {
  if (record.kind !== 'user') return { _id: key, seq, ...record };
  return { _id: key, seq, ...record, roles: record.roles === null ? null : [...record.roles] };
}

function toStored(key: string, doc: RevocationFields & { seq?: number }): StoredRevocation {
  return { key, seq: typeof doc.seq === 'number' ? doc.seq : null, record: toRecord(doc) };
}

function toRecord(doc: RevocationFields): RevocationRecord {
  if (doc.kind === 'user') {
    return {
      kind: 'user',
      id: doc.id,
      at: doc.at,
      expiresAt: doc.expiresAt,
      belowGeneration: doc.belowGeneration ?? 0,
      exceptSessionId: doc.exceptSessionId ?? null,
      roles: doc.roles ?? null,
    };
  }
  return { kind: doc.kind, id: doc.id, at: doc.at, expiresAt: doc.expiresAt };
}
