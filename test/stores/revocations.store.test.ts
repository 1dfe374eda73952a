import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRevocationsStore, type RevocationRecord, type RevocationsStore } from '../../src/stores/revocations.store.js';
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

    const read = await store.listFrom(1);
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
});
