import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRefreshTokensStore, type RefreshTokenRecord, type RefreshTokensStore } from '../../src/stores/refresh-tokens.store.js';
import { randomId } from '../../src/tokens/ids.js';
import { createRefreshTokenKeys, generateRefreshToken, type RefreshTokenKeys } from '../../src/tokens/refresh-token.js';
import type { Config } from '../../src/config/config.js';
import { commandsDuring } from '../support/commands.js';
import { testConfig } from '../support/config.js';

const NOW = new Date('2030-01-15T12:00:00.000Z');
const HOUR = 3600_000;

function record(tokenHash: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash,
    sessionId: randomId(),
    userId: '0123456789abcdef01234567',
    generation: 0,
    expiresAt: new Date(NOW.getTime() + HOUR),
    sessionExpiresAt: new Date(NOW.getTime() + 24 * HOUR),
    createdAt: new Date(NOW.getTime() - HOUR),
    ...overrides,
  };
}

describe('refresh tokens store', () => {
  let config: Config;
  let database: Database;
  let tokens: RefreshTokensStore;
  let hasher: RefreshTokenKeys;

  const rawCollection = () => database.connection.db!.collection<{ _id: string }>('refresh_tokens');

  beforeAll(async () => {
    config = testConfig();
    database = await connectDatabase(config, createLogger('silent'));
    tokens = await createRefreshTokensStore(database);
    hasher = createRefreshTokenKeys(config.tokens.refreshTokenHashSecret);
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it('finds an inserted record by its hash while it is active', async () => {
    const hash = hasher.hash(generateRefreshToken());
    const inserted = record(hash);
    await tokens.insert(inserted);
    expect(await tokens.findActive(hash, NOW)).toEqual({ ...inserted, reissued: false });
  });

  it('answers null for a hash it never stored', async () => {
    expect(await tokens.findActive(hasher.hash(generateRefreshToken()), NOW)).toBeNull();
  });

  it('keeps the generation it was given', async () => {
    const hash = hasher.hash(generateRefreshToken());
    await tokens.insert(record(hash, { generation: 7 }));
    expect((await tokens.findActive(hash, NOW))?.generation).toBe(7);
  });

  it("answers 'inserted' for a new hash and 'exists' for a second insert of it, keeping the first record", async () => {
    const hash = hasher.hash(generateRefreshToken());
    const first = record(hash);
    expect(await tokens.insert(first)).toBe('inserted');
    expect(await tokens.insert(record(hash, { userId: 'ffffffffffffffffffffffff', generation: 1 }))).toBe('exists');
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
    expect(await tokens.findActive(hash, NOW)).toEqual({ ...first, reissued: false });
  });

  it("lets exactly one of 20 concurrent inserts of the same hash answer 'inserted'", async () => {
    const hash = hasher.hash(generateRefreshToken());
    const candidates = Array.from({ length: 20 }, (_, index) => record(hash, { generation: index }));
    const results = await Promise.allSettled(candidates.map((candidate) => tokens.insert(candidate)));
    // A duplicate is an answer ('exists'), never an error.
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const answers = results.map((result) => (result.status === 'fulfilled' ? result.value : 'rejected'));
    const winners = candidates.filter((_, index) => answers[index] === 'inserted');
    expect(winners).toHaveLength(1);
    expect(answers.filter((answer) => answer === 'exists')).toHaveLength(19);
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
    // The stored record is the winner's, not a loser's overwriting it.
    expect(await tokens.findActive(hash, NOW)).toEqual({ ...winners[0], reissued: false });
  });

  it('deletes the records of the sessions handed over, and no other, in one command at the next batch, not at once', async () => {
    const sessionId = randomId();
    const second = randomId();
    const own = [hasher.hash(generateRefreshToken()), hasher.hash(generateRefreshToken()), hasher.hash(generateRefreshToken())];
    const other = hasher.hash(generateRefreshToken());
    for (const [generation, hash] of own.entries()) await tokens.insert(record(hash, { sessionId, generation }));
    await tokens.insert(record(hasher.hash(generateRefreshToken()), { sessionId: second }));
    await tokens.insert(record(other));

    const handing = await commandsDuring(database.connection.getClient(), async () => {
      tokens.deleteBySessionsLater([sessionId]);
      tokens.deleteBySessionsLater([second]);
    }, (event) => event.commandName);
    expect(handing).toEqual([]);
    expect(await rawCollection().countDocuments({ sessionId })).toBe(3);

    const flushed = await commandsDuring(database.connection.getClient(), () => database.flushDeletes(), (event) =>
      event.commandName === 'delete' ? JSON.stringify((event.command['deletes'] as Array<{ q: unknown }>)[0]?.q) : undefined,
    );
    expect(flushed).toEqual([JSON.stringify({ sessionId: { $in: [sessionId, second] } })]);
    expect(await rawCollection().countDocuments({ sessionId: { $in: [sessionId, second] } })).toBe(0);
    for (const hash of own) expect(await tokens.findActive(hash, NOW)).toBeNull();
    expect(await tokens.findActive(other, NOW)).not.toBeNull();
    // Idempotent: nothing left to delete is not an error.
    tokens.deleteBySessionsLater([sessionId]);
    await expect(database.flushDeletes()).resolves.toBeUndefined();
  });

  it('answers null for an expired record that is still in the collection', async () => {
    const hash = hasher.hash(generateRefreshToken());
    // Expired an hour before "now", as a sweeper or TTL monitor that has not run yet would leave it.
    await tokens.insert(record(hash, { expiresAt: new Date(NOW.getTime() - HOUR) }));
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
    expect(await tokens.findActive(hash, NOW)).toBeNull();
    // Still there: the read refused it, not a deletion.
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
  });

  it('treats a token as expired from the exact instant of its expiresAt', async () => {
    const hash = hasher.hash(generateRefreshToken());
    const inserted = record(hash, { expiresAt: NOW });
    await tokens.insert(inserted);
    expect(await tokens.findActive(hash, new Date(NOW.getTime() - 1))).toEqual({ ...inserted, reissued: false });
    expect(await tokens.findActive(hash, NOW)).toBeNull();
  });

  it('answers null once the session has ended even though the token itself has not expired', async () => {
    const hash = hasher.hash(generateRefreshToken());
    await tokens.insert(record(hash, { expiresAt: new Date(NOW.getTime() + HOUR), sessionExpiresAt: new Date(NOW.getTime() - 1) }));
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
    expect(await tokens.findActive(hash, NOW)).toBeNull();
  });

  it('checks expiry against the time it is given, not the wall clock', async () => {
    // Both dates lie in the real past: only the injected "now" decides.
    const past = new Date('2001-01-01T00:00:00.000Z');
    const hash = hasher.hash(generateRefreshToken());
    const inserted = record(hash, { createdAt: past, expiresAt: new Date(past.getTime() + HOUR), sessionExpiresAt: new Date(past.getTime() + 2 * HOUR) });
    await tokens.insert(inserted);
    expect(await tokens.findActive(hash, past)).toEqual({ ...inserted, reissued: false });
    expect(await tokens.findActive(hash, new Date(past.getTime() + HOUR))).toBeNull();
  });

  it('never stores the raw token, only its keyed hash', async () => {
    const token = generateRefreshToken();
    const hash = hasher.hash(token);
    expect(hash).not.toBe(token);
    await tokens.insert(record(hash));

    const documents = await rawCollection().find().toArray();
    expect(documents.map((document) => document._id)).toContain(hash);
    for (const document of documents) expect(JSON.stringify(document)).not.toContain(token);
  });
});

describe('refresh tokens after sign-in', () => {
  let services: Services | undefined;

  afterAll(async () => {
    await services?.database.connection.dropDatabase();
    await services?.close();
  });

  it('stores the HMAC of the returned refresh token and never the token itself', async () => {
    const config = testConfig();
    services = await createServices(config, createLogger('silent'), { now: () => NOW.getTime() });
    const { database } = services;
    const password = 'correct horse battery staple';
    const user = await services.auth.createUser({ email: 'session@example.com', password, roles: [] });

    const result = await services.auth.signIn({ email: 'session@example.com', password, client: { userAgent: 'vitest', address: '127.0.0.1' } });
    expect(result.user.id).toBe(user.id);

    const keys = createRefreshTokenKeys(config.tokens.refreshTokenHashSecret);
    const expectedHash = keys.hash(result.refreshToken);
    const documents = await database.connection.db!.collection<{ _id: string }>('refresh_tokens').find().toArray();
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({ _id: expectedHash, sessionId: result.sessionId, userId: user.id, generation: 0 });
    // Neither the token nor its (secret, derivable) successor is stored.
    expect(Object.keys(documents[0] ?? {}).sort()).toEqual(['_id', 'createdAt', 'expiresAt', 'generation', 'sessionExpiresAt', 'sessionId', 'userId']);
    // Keyed: not a plain digest that anyone could compute from a leaked token.
    expect(documents[0]?._id).not.toBe(createHash('sha256').update(result.refreshToken).digest('base64url'));
    for (const document of documents) {
      expect(JSON.stringify(document)).not.toContain(result.refreshToken);
      expect(JSON.stringify(document)).not.toContain(keys.successor(result.refreshToken));
    }

    // The token the client got is the one the store finds.
    const store = await createRefreshTokensStore(database);
    expect((await store.findActive(expectedHash, NOW))?.sessionId).toBe(result.sessionId);
  });
});
