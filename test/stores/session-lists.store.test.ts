import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createSessionListsStore, type SessionList, type SessionListsStore } from '../../src/stores/session-lists.store.js';
import { testConfig } from '../support/config.js';
import { commandsDuring } from '../support/commands.js';

const DAY_MS = 86_400_000;
const VERSIONS = 'session_list_versions';

/** The commands on `collection` that `action` sends, by name. */
const commandsOn = (client: mongo.MongoClient, collection: string, action: () => Promise<unknown>): Promise<string[]> =>
  commandsDuring(client, action, (event) => (event.command[event.commandName] === collection ? event.commandName : undefined));

describe("a user's session list: old versions go in a batch, not in a login's round trips", () => {
  let config: ReturnType<typeof testConfig>;
  let database: Database;
  let lists: SessionListsStore;
  beforeAll(async () => {
    config = testConfig();
    database = await connectDatabase(config, createLogger('silent'));
    lists = await createSessionListsStore(database);
  });
  afterAll(async () => {
    // Closed by the test below; a fresh connection drops what it left.
    const cleanup = await connectDatabase(config, createLogger('silent'));
    await cleanup.connection.dropDatabase();
    await cleanup.close();
  });

  /** `count` more versions of the user's list, each through `latest` as a login would. */
  async function appendVersions(userId: string, count: number): Promise<SessionList> {
    const expiresAt = new Date(Date.now() + DAY_MS);
    for (let i = 0; i < count; i++) {
      const current = await lists.latest(userId);
      if (current === null) {
        expect(await lists.start(userId, { sessions: [], pushedOut: [] }, expiresAt, null)).toBe('inserted');
        continue;
      }
      if ('lost' in current) throw new Error('the list was lost');
      const sessions = [...current.sessions, { id: `${userId}-s${i}`, expiresAt }].slice(-3);
      expect(await lists.append(userId, current, { sessions, pushedOut: [] }, expiresAt)).toBe('inserted');
    }
    const latest = await lists.latest(userId);
    if (latest === null || 'lost' in latest) throw new Error('no list');
    return latest;
  }

  it('sends no delete while versions are added, and deletes the stale ones in one command at close', async () => {
    const client = database.connection.getClient();
    const users = ['u-ada', 'u-bob'];
    // FerretDB 1.x deletes by `_id` by reading the whole table: a delete in a login's round trips made every
    // login pay for the size of the collection.
    const during = await commandsOn(client, VERSIONS, async () => {
      for (const userId of users) await appendVersions(userId, 41);
    });
    expect(during).not.toContain('delete');
    expect(during.filter((name) => name === 'insert')).toHaveLength(2 * 41);
    const versions = database.connection.collection(VERSIONS);
    expect(await versions.countDocuments({})).toBe(2 * 41);

    const atClose = await commandsOn(client, VERSIONS, () => database.close());
    expect(atClose).toEqual(['delete']);

    // Read through another connection: the stale versions are gone, the recent ones (the latest among them) stay.
    const reader = await connectDatabase(config, createLogger('silent'));
    try {
      const again = await createSessionListsStore(reader);
      for (const userId of users) {
        const left = await reader.connection.collection(VERSIONS).countDocuments({ _id: { $regex: `^${userId}/` } as never });
        expect(left).toBeGreaterThanOrEqual(16);
        expect(left).toBeLessThan(41);
        const latest = await again.latest(userId);
        expect(latest).toMatchObject({ version: 40, sessions: [{ id: `${userId}-s38` }, { id: `${userId}-s39` }, { id: `${userId}-s40` }] });
      }
    } finally {
      await reader.close();
    }
  });
});
