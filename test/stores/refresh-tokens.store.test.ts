import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRefreshTokensStore, type RefreshTokenRecord, type RefreshTokensStore } from '../../src/stores/refresh-tokens.store.js';
import { randomId } from '../../src/tokens/ids.js';
import { createRefreshTokenHasher, generateRefreshToken, type RefreshTokenHasher } from '../../src/tokens/refresh-token.js';
import type { Config } from '../../src/config/config.js';
import { testConfig } from '../support/config.js';

const NOW = new Date('2030-01-15T12:00:00.000Z');
const HOUR = 3600_000;

function record(tokenHash: string, overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash,
    sessionId: randomId(),
    userId: '0123456789abcdef01234567',
    expiresAt: new Date(NOW.getTime() + HOUR),
    sessionExpiresAt: new Date(NOW.getTime() + 24 * HOUR),
    createdAt: new Date(NOW.getTime() - HOUR),
    userAgent: 'vitest',
    clientAddress: '127.0.0.1',
    ...overrides,
  };
}

describe('refresh tokens store', () => {
  let config: Config;
  let database: Database;
  let tokens: RefreshTokensStore;
  let hasher: RefreshTokenHasher;

  const rawCollection = () => database.connection.db!.collection<{ _id: string }>('refresh_tokens');

  beforeAll(async () => {
    config = testConfig();
    database = await connectDatabase(config, createLogger('silent'));
    tokens = await createRefreshTokensStore(database);
    hasher = createRefreshTokenHasher(config.tokens.refreshTokenHashSecret);
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it('finds an inserted record by its hash while it is active', async () => {
    const hash = hasher.hash(generateRefreshToken());
    const inserted = record(hash);
    await tokens.insert(inserted);
    expect(await tokens.findActive(hash, NOW)).toEqual(inserted);
  });

  it('answers null for a hash it never stored', async () => {
    expect(await tokens.findActive(hasher.hash(generateRefreshToken()), NOW)).toBeNull();
  });

  it('keeps a null user agent and client address as null', async () => {
    const hash = hasher.hash(generateRefreshToken());
    await tokens.insert(record(hash, { userAgent: null, clientAddress: null }));
    expect(await tokens.findActive(hash, NOW)).toMatchObject({ userAgent: null, clientAddress: null });
  });

  it('refuses a second insert of the same hash and keeps the first record', async () => {
    const hash = hasher.hash(generateRefreshToken());
    const first = record(hash);
    await tokens.insert(first);
    await expect(tokens.insert(record(hash, { userId: 'ffffffffffffffffffffffff' }))).rejects.toMatchObject({ code: 11000 });
    expect(await tokens.findActive(hash, NOW)).toEqual(first);
  });

  it('lets exactly one of 20 concurrent inserts of the same hash win', async () => {
    const hash = hasher.hash(generateRefreshToken());
    const candidates = Array.from({ length: 20 }, () => record(hash));
    const results = await Promise.allSettled(candidates.map((candidate) => tokens.insert(candidate)));
    const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [candidates[index]] : []));
    expect(winners).toHaveLength(1);
    expect(await rawCollection().countDocuments({ _id: hash })).toBe(1);
    expect((await tokens.findActive(hash, NOW))?.sessionId).toBe(winners[0]?.sessionId);
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
    expect(await tokens.findActive(hash, new Date(NOW.getTime() - 1))).toEqual(inserted);
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
    expect(await tokens.findActive(hash, past)).toEqual(inserted);
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
  let database: Database | undefined;

  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it('stores the HMAC of the returned refresh token and never the token itself', async () => {
    const config = testConfig();
    const services = await createServices(config, createLogger('silent'), { now: () => NOW.getTime() });
    database = services.database;
    const password = 'correct horse battery staple';
    const user = await services.auth.createUser({ email: 'session@example.com', password, roles: [] });

    const result = await services.auth.signIn({ email: 'session@example.com', password, client: { userAgent: 'vitest', address: '127.0.0.1' } });
    expect(result.user.id).toBe(user.id);

    const expectedHash = createRefreshTokenHasher(config.tokens.refreshTokenHashSecret).hash(result.refreshToken);
    const documents = await database.connection.db!.collection<{ _id: string }>('refresh_tokens').find().toArray();
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({ _id: expectedHash, sessionId: result.sessionId, userId: user.id });
    // Keyed: not a plain digest that anyone could compute from a leaked token.
    expect(documents[0]?._id).not.toBe(createHash('sha256').update(result.refreshToken).digest('base64url'));
    for (const document of documents) expect(JSON.stringify(document)).not.toContain(result.refreshToken);

    // The token the client got is the one the store finds.
    const store = await createRefreshTokensStore(database);
    expect((await store.findActive(expectedHash, NOW))?.sessionId).toBe(result.sessionId);
  });
});
