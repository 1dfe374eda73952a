import type { mongo } from 'mongoose';
import { RateLimiterMongo } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { collectionOfLimiter, COLLECTION_PREFIX, createLocalCounter, createRateLimitsStore, type LimiterSpec, type RateLimitsStore, type SharedCount } from '../../src/stores/rate-limits.store.js';
import { commandsDuring } from '../support/commands.js';
import { testConfig } from '../support/config.js';

const MARKS = 'rate_limit_marks';
/** Time between the library's read and ours: the windows' remaining milliseconds may differ by this much. */
const SLACK_MS = 2_000;

/** rate-limiter-flexible's own limiter over the store's collection, as the store builds it. */
function libraryLimiter(database: Database, spec: LimiterSpec): RateLimiterMongo {
  return new RateLimiterMongo({
    keyPrefix: spec.name,
    points: spec.points,
    duration: spec.durationSeconds,
    storeClient: database.connection,
    tableName: collectionOfLimiter(spec.name),
    disableIndexesCreation: true,
  });
}

/** What the library's get() answers for the key, in the shape of the store's batched read. */
async function libraryCount(limiter: RateLimiterMongo, key: string): Promise<SharedCount | null> {
  const result = await limiter.get(key);
  return result === null ? null : { consumedPoints: result.consumedPoints, msBeforeNext: result.msBeforeNext };
}

function expectSameCount(ours: SharedCount | null, library: SharedCount | null): void {
  if (library === null) {
    expect(ours).toBeNull();
    return;
  }
  expect(ours?.consumedPoints).toBe(library.consumedPoints);
  if (library.msBeforeNext === -1) expect(ours?.msBeforeNext).toBe(-1);
  else expect(Math.abs((ours?.msBeforeNext ?? Number.NaN) - library.msBeforeNext)).toBeLessThan(SLACK_MS);
}

describe('the rate-limits store read of several keys at once', () => {
  let database: Database;
  let store: RateLimitsStore;
  let commands: string[] = [];
  const onCommand = (event: mongo.CommandStartedEvent): void => {
    const target = event.command[event.commandName];
    if (typeof target === 'string' && target.startsWith(COLLECTION_PREFIX)) commands.push(event.commandName);
  };

  beforeAll(async () => {
    database = await connectDatabase(testConfig(), createLogger('silent'));
    store = await createRateLimitsStore(database);
    database.connection.getClient().on('commandStarted', onCommand);
  });
  afterAll(async () => {
    database?.connection.getClient().off('commandStarted', onCommand);
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it("gives the counts, waits and refusals of the library's own get() for failures recorded through the library, one equality find per key", async () => {
    const spec = { name: 'agree-60s', points: 3, durationSeconds: 60 };
    const limiter = store.limiter(spec);
    const delay = store.delay('agree-delay');
    const library = libraryLimiter(database, spec);
    const libraryDelay = libraryLimiter(database, { name: 'agree-delay', points: 1, durationSeconds: 1 });
    // Below the limit, at it, past it, never recorded; a delay imposed and one never imposed; a document the
    // library wrote to last for ever (no expiry).
    for (const [key, failures] of [['below', 2], ['at', 3], ['past', 5]] as const) {
      for (let failure = 0; failure < failures; failure++) await limiter.recordFailure(key);
    }
    await delay.impose('slowed', 30);
    await library.set('for-ever', 4, 0);
    const limiterKeys = ['below', 'at', 'past', 'never', 'for-ever'];
    const delayKeys = ['slowed', 'free'];

    commands = [];
    const counts = await store.read([...limiterKeys.map((key) => limiter.sharedKey(key)), ...delayKeys.map((key) => delay.sharedKey(key))]);
    expect(commands).toEqual([...limiterKeys, ...delayKeys].map(() => 'find'));

    for (const [index, key] of limiterKeys.entries()) {
      const ours = counts[index] ?? null;
      const theirs = await libraryCount(library, key);
      expectSameCount(ours, theirs);
      // The verdict from the batched read is the one begin() reaches through the library's get() (a limiter of
      // its own, so that no count in this process decides).
      const viaLibrary = await store.limiter(spec).begin(key);
      const viaRead = limiter.judge(ours);
      expect(viaRead.allowed).toBe(viaLibrary.allowed);
      if (!viaRead.allowed && !viaLibrary.allowed) expect(Math.abs(viaRead.retryAfterMs - viaLibrary.retryAfterMs)).toBeLessThan(SLACK_MS);
    }
    expect(counts.slice(0, limiterKeys.length).map((count) => count?.consumedPoints ?? 0)).toEqual([2, 3, 5, 0, 4]);
    expect(limiterKeys.map((_, index) => limiter.judge(counts[index] ?? null).allowed)).toEqual([true, false, false, true, false]);

    for (const [index, key] of delayKeys.entries()) {
      const ours = counts[limiterKeys.length + index] ?? null;
      expectSameCount(ours, await libraryCount(libraryDelay, key));
      const viaLibrary = await delay.remainingMs(key);
      expect(Math.abs(delay.remainingFrom(ours) - viaLibrary)).toBeLessThan(SLACK_MS);
    }
    expect(delay.remainingFrom(counts[limiterKeys.length] ?? null)).toBeGreaterThan(25_000);
    expect(delay.remainingFrom(counts[limiterKeys.length + 1] ?? null)).toBe(0);
  });

  it('counts a window that has ended as empty, like the library, while its document is still stored', async () => {
    const spec = { name: 'agree-1s', points: 2, durationSeconds: 1 };
    const limiter = store.limiter(spec);
    const library = libraryLimiter(database, spec);
    await limiter.recordFailure('ended');
    await limiter.recordFailure('ended');
    const [full] = await store.read([limiter.sharedKey('ended')]);
    expect(full?.consumedPoints).toBe(2);
    expect(limiter.judge(full ?? null).allowed).toBe(false);

    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // The sweeper runs once a minute: the document outlives its window, and only the reading makes it absent.
    const where = limiter.sharedKey('ended');
    const stored = await database.connection.collection(where.collection).findOne({ key: where.key });
    expect(stored?.['points']).toBe(2);
    expect(await library.get('ended')).toBeNull();
    const [ended] = await store.read([limiter.sharedKey('ended')]);
    expect(ended).toBeNull();
    expect(limiter.judge(ended ?? null)).toEqual({ allowed: true, sharedFailures: 0 });
  });

  it('answers in the order asked, with null for keys that have no document, and reads nothing for no keys', async () => {
    const limiter = store.limiter({ name: 'order-60s', points: 5, durationSeconds: 60 });
    await limiter.recordFailure('one');
    for (let failure = 0; failure < 3; failure++) await limiter.recordFailure('three');
    const counts = await store.read([limiter.sharedKey('three'), limiter.sharedKey('none'), limiter.sharedKey('one'), limiter.sharedKey('three')]);
    expect(counts.map((count) => count?.consumedPoints ?? null)).toEqual([3, null, 1, 3]);
    commands = [];
    expect(await store.read([])).toEqual([]);
    expect(commands).toEqual([]);
  });
});

describe('marks with a rewrite interval', () => {
  let database: Database;
  let commands: string[] = [];
  const onCommand = (event: mongo.CommandStartedEvent): void => {
    if (event.command[event.commandName] === MARKS && event.commandName !== 'delete') commands.push(event.commandName);
  };

  beforeAll(async () => {
    database = await connectDatabase(testConfig(), createLogger('silent'));
    database.connection.getClient().on('commandStarted', onCommand);
  });
  afterAll(async () => {
    database?.connection.getClient().off('commandStarted', onCommand);
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it('writes a mark once per interval per process, and again from another process', async () => {
    const spec = { name: 'mark-test', durationSeconds: 3600, rewriteAfterSeconds: 600 };
    const first = (await createRateLimitsStore(database)).marks(spec);
    commands = [];
    await first.add('pair');
    await first.add('pair');
    await first.add('pair');
    expect(commands).toEqual(['update']);
    expect(await first.has('pair')).toBe(true);
    // Another process has not written it: it does, once.
    const second = (await createRateLimitsStore(database)).marks(spec);
    commands = [];
    await second.add('pair');
    await second.add('pair');
    await second.add('other');
    expect(commands).toEqual(['update', 'update']);
  });

  it('writes every time when the interval is 0', async () => {
    const marks = (await createRateLimitsStore(database)).marks({ name: 'mark-always', durationSeconds: 3600, rewriteAfterSeconds: 0 });
    commands = [];
    await marks.add('pair');
    await marks.add('pair');
    expect(commands).toEqual(['update', 'update']);
  });

  it('keeps marks out of the counters\' collection and reads one by its `_id` alone', async () => {
    const store = await createRateLimitsStore(database);
    const marks = store.marks({ name: 'mark-apart', durationSeconds: 3600, rewriteAfterSeconds: 600 });
    for (let index = 0; index < 20; index++) await marks.add(`pair-${index}`);
    // The counters' reads on FerretDB 1.x go through every document of their collection: marks there made each
    // login pay for every pair that signed in within 30 days.
    const counterCollections = (await database.connection.db?.listCollections().toArray())?.filter((info) => info.name.startsWith(COLLECTION_PREFIX)) ?? [];
    for (const info of counterCollections) expect(await database.connection.collection(info.name).countDocuments({})).toBe(0);
    const filters = await commandsDuring(
      database.connection.getClient(),
      async () => {
        expect(await marks.has('pair-7')).toBe(true);
        expect(await marks.has('pair-never')).toBe(false);
      },
      (event) => (event.command[event.commandName] === MARKS && event.commandName === 'find' ? JSON.stringify(event.command['filter']) : undefined),
    );
    expect(filters).toEqual([JSON.stringify({ _id: 'mark-apart:pair-7' }), JSON.stringify({ _id: 'mark-apart:pair-never' })]);
  });

  it('counts a mark past its end as absent before the sweeper removes it', async () => {
    const marks = (await createRateLimitsStore(database)).marks({ name: 'mark-ended', durationSeconds: 3600, rewriteAfterSeconds: 0 });
    await marks.add('pair');
    await database.connection.collection(MARKS).updateOne({ _id: 'mark-ended:pair' as never }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await marks.has('pair')).toBe(false);
  });
});

describe('the in-process counter giving attempts back', () => {
  it('forgets a key whose attempts were all given back, so a later window starts with the next attempt', () => {
    const counter = createLocalCounter({ name: 'test', points: 2, durationSeconds: 60 }, 100);
    expect(counter.consume('key', 0)).toBe(0);
    counter.giveBack('key');
    expect(counter.size()).toBe(0);
    // The next attempts open a window of their own: it ends 60 s after them, not after the attempt given back.
    expect(counter.consume('key', 30_000)).toBe(0);
    expect(counter.consume('key', 30_000)).toBe(0);
    expect(counter.consume('key', 70_000)).toBe(20_000);
  });

  it('keeps a key that still holds attempts after one is given back', () => {
    const counter = createLocalCounter({ name: 'test', points: 2, durationSeconds: 60 }, 100);
    counter.consume('key', 0);
    counter.consume('key', 0);
    counter.giveBack('key');
    expect(counter.size()).toBe(1);
    expect(counter.consume('key', 1_000)).toBe(0);
    expect(counter.consume('key', 1_000)).toBe(59_000);
  });
});
