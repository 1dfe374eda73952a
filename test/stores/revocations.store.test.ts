import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRevocationsStore, type RevocationRecord, type RevocationsStore } from '../../src/stores/revocations.store.js';
import { commandsDuring } from '../support/commands.js';
import { testConfig } from '../support/config.js';

const entry = (id: string): RevocationRecord => ({ kind: 'session', id, at: new Date(), expiresAt: new Date(Date.now() + 60_000) });

describe('revocations store', () => {
  let database: Database;
  /** A second connection to the same database: another gateway instance, whose writers race this one's. */
  let other: Database;
  let store: RevocationsStore;
  let otherStore: RevocationsStore;

  beforeAll(async () => {
    const config = testConfig();
    database = await connectDatabase(config, createLogger('silent'));
    other = await connectDatabase(config, createLogger('silent'));
    store = await createRevocationsStore(database);
    otherStore = await createRevocationsStore(other);
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await other?.close();
    await database?.close();
  });

  it('numbers 30 concurrent writers on two instances 1 to 30, each once, in the order a poll reads them', { timeout: 60_000 }, async () => {
    const ids = Array.from({ length: 30 }, (_unused, index) => `concurrent-${index}`);
    const written = await Promise.all(ids.map((id, index) => (index % 2 === 0 ? store : otherStore).add(entry(id))));
    expect(written).toEqual(ids.map(() => 'inserted'));

    const { entries: read, holeBelow } = await store.readFrom(1, 100);
    expect(holeBelow).toBe(false);
    expect(read.map((stored) => stored.seq)).toEqual(ids.map((_id, index) => index + 1));
    expect(read.map((stored) => stored.record.id).sort()).toEqual([...ids].sort());
  });

  it('keeps one entry when the same revocation is written twice at once', async () => {
    expect((await Promise.all([store.add(entry('twice')), store.add(entry('twice'))])).sort()).toEqual(['exists', 'inserted']);
    expect((await store.listAll()).filter((stored) => stored.record.id === 'twice')).toHaveLength(1);
  });

  it('stores a user-wide entry with its generation, exception and roles, and reads it back', async () => {
    const userWide: RevocationRecord = {
      kind: 'user',
      id: 'user-1',
      at: new Date(),
      expiresAt: new Date(Date.now() + 60_000),
      belowGeneration: 4,
      exceptSessionId: 'kept',
      roles: ['USER'],
    };
    expect(await store.add(userWide)).toBe('inserted');
    const [top] = (await store.listAll()).filter((stored) => stored.record.kind === 'user');
    expect(top?.record).toEqual(userWide);
  });

  describe('on a database that answers only `_id` equality from an index (FerretDB 1.x)', () => {
    /** Each command as `name collection filter-and-sort`, so a scan (any other filter, or a sort) shows. */
    const shape = (event: { commandName: string; command: Record<string, unknown> }): string | undefined => {
      const { commandName, command } = event;
      if (!['find', 'insert', 'delete', 'update'].includes(commandName)) return undefined;
      const collection = String(command[commandName]);
      if (!collection.startsWith('revocation')) return undefined;
      const filter = commandName === 'find' ? command['filter'] : undefined;
      const sort = commandName === 'find' && command['sort'] ? ` sort ${JSON.stringify(command['sort'])}` : '';
      const keys = filter && typeof filter === 'object' ? ` {${Object.keys(filter).join(',')}}` : '';
      return `${commandName} ${collection}${keys}${sort}`;
    };

    /** The highest number stored, as a full load reads it. */
    const topNumber = async (): Promise<number> => Math.max(0, ...(await store.listAll()).map((stored) => stored.seq ?? 0));

    beforeAll(async () => {
      // Enough entries that a scan would be the expensive thing, and a writer that has written before.
      for (let index = 0; index < 40; index++) await store.add(entry(`filler-${index}`));
    });

    it('writes an entry with a find by `_id` and two inserts: no scan for the top number, no sort', async () => {
      const commands = await commandsDuring(database.connection.getClient(), () => store.add(entry('cheap-write')), shape);
      expect(commands).toEqual(['find revocation_feed {_id}', 'insert revocations', 'insert revocation_feed']);
    });

    it('polls with finds by `_id` alone: three when nothing is new, whatever the number of entries', async () => {
      const top = await topNumber();
      let read: Awaited<ReturnType<RevocationsStore['readFrom']>> | undefined;
      const commands = await commandsDuring(database.connection.getClient(), async () => (read = await store.readFrom(top, 500)), shape);
      expect(commands).toEqual(['find revocation_feed {_id}', 'find revocation_feed {_id}', 'find revocation_feed {_id}']);
      expect(read?.entries.map((stored) => stored.seq)).toEqual([top]);
      expect(read?.holeBelow).toBe(false);
    });

    it('takes the next free number after another instance wrote meanwhile, and reads both in order', async () => {
      const top = await topNumber();
      expect(await otherStore.add(entry('other-instance'))).toBe('inserted');
      expect(await store.add(entry('after-collision'))).toBe('inserted');
      const { entries } = await store.readFrom(top + 1, 500);
      expect(entries.map((stored) => [stored.seq, stored.record.id])).toEqual([
        [top + 1, 'other-instance'],
        [top + 2, 'after-collision'],
      ]);
    });

    it('publishes again, when the revocation is written again, an entry whose writer stopped before publishing it', async () => {
      expect(await store.add(entry('unpublished'))).toBe('inserted');
      const stored = (await store.listAll()).find((candidate) => candidate.record.id === 'unpublished');
      const feed = database.connection.collection<{ _id: string }>('revocation_feed');
      await feed.deleteOne({ _id: String(stored?.seq) });
      const hole = await store.readFrom(stored?.seq ?? 0, 500);
      expect(hole.entries).toEqual([]);

      expect(await store.add(entry('unpublished'))).toBe('exists');
      const { entries } = await store.readFrom(stored?.seq ?? 0, 500);
      expect(entries.map((read) => read.record.id)).toEqual(['unpublished']);
    });

    it('says there is a hole when a number is missing from the feed but the next one is there', async () => {
      const top = await topNumber();
      // A writer of a release before the feed: numbered, stored, never published.
      await database.connection
        .collection<Record<string, unknown> & { _id: string }>('revocations')
        .insertOne({ _id: 'session:legacy-writer', seq: top + 1, kind: 'session', id: 'legacy-writer', at: new Date(), expiresAt: new Date(Date.now() + 60_000) });
      const before = await store.readFrom(top + 1, 500);
      expect(before).toEqual({ entries: [], holeBelow: false });

      expect(await otherStore.add(entry('beyond-the-hole'))).toBe('inserted');
      const after = await store.readFrom(top + 1, 500);
      expect(after).toEqual({ entries: [], holeBelow: true });
      expect((await store.readFrom(top + 2, 500)).entries.map((read) => read.record.id)).toEqual(['beyond-the-hole']);
    });
  });
});
