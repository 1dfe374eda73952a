import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Schema, type Model } from 'mongoose';
import type { Database } from './mongo.js';

/** One of a user's sessions as the per-user list holds it: enough to order them and to drop the expired. */
export interface SessionListEntry {
  readonly id: string;
  readonly expiresAt: Date;
}

/** A stored version of a user's list of live sessions, oldest first. */
export interface SessionList {
  readonly epoch: string;
  readonly version: number;
  readonly sessions: readonly SessionListEntry[];
  /**
   * Sessions recently pushed out, newest last (a few dozen). A list started from the sessions collection can
   * hold, and push out, sessions whose own logins have not reached the list yet: those must not come back in.
   */
  readonly pushedOut: readonly string[];
}

/** What a writer stores: a whole new version. */
export type SessionListContent = Pick<SessionList, 'sessions' | 'pushedOut'>;

/**
 * Each user's live sessions as a log of versions, read and written by `_id` only. MAX_SESSIONS_PER_USER was a
 * query on `userId`, which FerretDB 1.x answers by scanning every session of every user (docs/performance.md).
 *
 * A version is never updated: the next one is inserted under `<user>/<epoch>/<version + 1>`, and the unique `_id`
 * lets exactly one of concurrent writers store it (FerretDB has no atomic compare-and-set or findAndModify; a
 * unique insert has one winner). A loser reads the winner's version and applies its change again on top. The
 * head document (`_id` = the user) names the epoch and, as a hint only, the latest version: readers probe
 * forward from it. A new epoch starts when the list is unknown (first login since this store exists, or the
 * list expired), from the scan of the sessions collection, the authority; the head's unique insert decides
 * which of concurrent starters' epochs counts.
 */
export interface SessionListsStore {
  /**
   * The latest version; null when the user has no list, `{ lost }` when the head names an epoch whose versions
   * are gone (expired, or the hint too far behind). Either way: start an epoch from the sessions themselves.
   */
  latest(userId: string): Promise<SessionList | { readonly lost: string } | null>;
  /** Stores the version after `base`. 'taken' when another writer stored that version first: read and retry. */
  append(userId: string, base: SessionList, content: SessionListContent, expiresAt: Date): Promise<'inserted' | 'taken'>;
  /**
   * Starts a new epoch with `sessions` as its first version, replacing `lost` (an epoch whose versions are
   * gone) or creating the head. 'taken' when another starter won.
   */
  start(userId: string, content: SessionListContent, expiresAt: Date, lost: string | null): Promise<'inserted' | 'taken'>;
  /**
   * Forgets the user's list (one delete, however long it was): the next login starts an epoch from the sessions
   * themselves. What a writer still appends to the forgotten epoch is never read again.
   */
  invalidate(userId: string): Promise<void>;
}

interface HeadDocument {
  _id: string;
  epoch: string;
  version: number;
  expiresAt: Date;
}

interface VersionDocument {
  _id: string;
  sessions: Array<{ id: string; expiresAt: Date }>;
  pushedOut: string[];
  expiresAt: Date;
}

const headSchema = new Schema<HeadDocument>(
  { _id: { type: String, required: true }, epoch: { type: String, required: true }, version: { type: Number, required: true }, expiresAt: { type: Date, required: true } },
  { collection: 'session_list_heads', versionKey: false, strict: 'throw' },
);

const versionSchema = new Schema<VersionDocument>(
  {
    _id: { type: String, required: true },
    sessions: { type: [{ _id: false, id: { type: String, required: true }, expiresAt: { type: Date, required: true } }], required: true },
    pushedOut: { type: [String], required: true },
    expiresAt: { type: Date, required: true },
  },
  { collection: 'session_list_versions', versionKey: false, strict: 'throw' },
);

const DUPLICATE_KEY = 11000;
/** How far past the head's hint a reader probes, two versions per round trip, before calling the list lost. */
const MAX_PROBES = 32;
/** Versions kept behind the latest (older ones are deleted): how far a lagging hint may be and still be read. */
const KEPT_VERSIONS = 16;
/**
 * The head's hint moves, and old versions are deleted, every this many versions (one write each time): a reader
 * without the list in memory starts at most this far behind, plus what concurrent writers add.
 */
const HINT_EVERY = 4;
/** Users whose latest list this process remembers, so a login's only list reads go with its insert. */
const REMEMBERED_USERS = 10_000;

const versionId = (userId: string, epoch: string, version: number): string => `${userId}/${epoch}/${version}`;

export async function createSessionListsStore(database: Database): Promise<SessionListsStore> {
  const heads: Model<HeadDocument> = database.connection.model<HeadDocument>('SessionListHead', headSchema);
  const versions: Model<VersionDocument> = database.connection.model<VersionDocument>('SessionListVersion', versionSchema);
  await database.expireByField(heads.collection, 'expiresAt');
  await database.expireByField(versions.collection, 'expiresAt');

  // What this process last read or wrote per user. Only a shortcut: every read still checks the head's epoch
  // (another process may have forgotten or replaced the list) and that no later version exists.
  const remembered = new LRUCache<string, SessionList>({ max: REMEMBERED_USERS });
  /** Lists `latest` handed out from memory without reading: `append` confirms them. */
  const unconfirmed = new WeakSet<SessionList>();
  const remember = (userId: string, list: SessionList): SessionList => {
    const known = remembered.get(userId);
    // Never back: a slow reader may come back with a version older than one a writer here has since stored.
    if (!known || known.epoch !== list.epoch || known.version < list.version) remembered.set(userId, list);
    return list;
  };
  const readHead = (userId: string): Promise<HeadDocument | null> => heads.collection.findOne({ _id: userId as never }) as Promise<HeadDocument | null>;
  const readVersion = (id: string): Promise<VersionDocument | null> => versions.collection.findOne({ _id: id as never }) as Promise<VersionDocument | null>;

  /** The latest version at or after `from`: two versions per round trip, in parallel. */
  async function probe(userId: string, epoch: string, from: number): Promise<SessionList | null> {
    let found: SessionList | null = null;
    for (let version = from; version < from + MAX_PROBES; version += 2) {
      const [first, second] = await Promise.all([readVersion(versionId(userId, epoch, version)), readVersion(versionId(userId, epoch, version + 1))]);
      if (first) found = { epoch, version, sessions: first.sessions, pushedOut: first.pushedOut ?? [] };
      if (second) found = { epoch, version: version + 1, sessions: second.sessions, pushedOut: second.pushedOut ?? [] };
      if (!second) return found;
    }
    return null;
  }

  async function insertUnique(insert: () => Promise<unknown>): Promise<'inserted' | 'taken'> {
    try {
      await insert();
      return 'inserted';
    } catch (error) {
      if ((error as { code?: unknown }).code === DUPLICATE_KEY) return 'taken';
      throw error;
    }
  }

  return {
    async latest(userId: string): Promise<SessionList | { readonly lost: string } | null> {
      const known = remembered.get(userId);
      if (known) {
        // No read now: `append` checks, in the same round trip as its insert, that this is still the latest.
        unconfirmed.add(known);
        return known;
      }
      let head = await readHead(userId);
      // A hint so far behind that its versions are deleted is re-read once: concurrent writers move it (and an
      // update on FerretDB is not atomic, so the last of two writes may be the older version).
      for (let read = 0; read < 2; read++) {
        if (read > 0) head = await readHead(userId);
        if (!head) {
          remembered.delete(userId);
          return null;
        }
        const found = await probe(userId, head.epoch, head.version);
        if (found) return remember(userId, found);
      }
      remembered.delete(userId);
      return head ? { lost: head.epoch } : null;
    },

    async append(userId: string, base: SessionList, content: SessionListContent, expiresAt: Date): Promise<'inserted' | 'taken'> {
      const version = base.version + 1;
      const insert = (): Promise<'inserted' | 'taken'> =>
        insertUnique(() => versions.collection.insertOne({ _id: versionId(userId, base.epoch, version), ...document(content), expiresAt } as never));
      let inserted: 'inserted' | 'taken';
      if (unconfirmed.has(base)) {
        // `base` came from memory. Versions follow each other without gaps, so if the next one was free, `base`
        // was the latest, provided its epoch is still the head's (not forgotten or replaced by another process)
        // and the hint is not past it (a free slot behind the hint is a deleted version). Otherwise what was
        // inserted is never read (another epoch, or behind every reader) and the caller reads and tries again.
        const [result, head] = await Promise.all([insert(), readHead(userId)]);
        if (result === 'taken' || !head || head.epoch !== base.epoch || head.version > base.version) {
          remembered.delete(userId);
          return 'taken';
        }
        inserted = result;
      } else {
        inserted = await insert();
      }
      if (inserted === 'taken') return inserted;
      remember(userId, { epoch: base.epoch, version, ...content });
      if (version % HINT_EVERY === 0) {
        // The hint moves forward (mostly: two concurrent updates on FerretDB may land in either order), and old
        // versions go, far enough behind that a hint lagging by a few writers still finds its version. They go in
        // a batch a few seconds later, not in this login's round trips (see Database.deleteLater).
        const old = Array.from({ length: HINT_EVERY }, (_unused, i) => version - KEPT_VERSIONS - i).filter((stale) => stale >= 0);
        database.deleteLater(versions.collection, '_id', old.map((stale) => versionId(userId, base.epoch, stale)));
        await heads.collection.updateOne({ _id: userId as never, epoch: base.epoch, version: { $lt: version } }, { $set: { version, expiresAt } });
      }
      return inserted;
    },

    async start(userId: string, content: SessionListContent, expiresAt: Date, lost: string | null): Promise<'inserted' | 'taken'> {
      const epoch = randomBytes(8).toString('base64url');
      const inserted = await insertUnique(() => versions.collection.insertOne({ _id: versionId(userId, epoch, 0), ...document(content), expiresAt } as never));
      if (inserted === 'taken') return 'taken';
      let started: 'inserted' | 'taken';
      if (lost === null) {
        started = await insertUnique(() => heads.collection.insertOne({ _id: userId, epoch, version: 0, expiresAt } as never));
      } else {
        // Replacing a lost epoch: of racers, the first to replace it wins; the others match nothing.
        const replaced = await heads.collection.replaceOne({ _id: userId as never, epoch: lost }, { epoch, version: 0, expiresAt });
        started = replaced.modifiedCount === 1 ? 'inserted' : 'taken';
      }
      if (started === 'inserted') remember(userId, { epoch, version: 0, ...content });
      return started;
    },

    async invalidate(userId: string): Promise<void> {
      remembered.delete(userId);
      await heads.collection.deleteOne({ _id: userId as never });
    },
  };
}

function document(content: SessionListContent): Pick<VersionDocument, 'sessions' | 'pushedOut'> {
  return { sessions: content.sessions.map((entry) => ({ id: entry.id, expiresAt: entry.expiresAt })), pushedOut: [...content.pushedOut] };
}
