import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createUsersStore, EmailTakenError, type UserRecord, type UsersStore } from '../../src/stores/users.store.js';
import { testConfig } from '../support/config.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';

function expectPlainRecord(record: UserRecord): void {
  expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  expect(record).not.toHaveProperty('passwordHash');
  expect(record).not.toHaveProperty('$__');
  expect(record).not.toHaveProperty('_doc');
  expect(record).not.toHaveProperty('save');
  expect(record).not.toHaveProperty('_id');
  expect(Object.keys(record).sort()).toEqual(['createdAt', 'disabled', 'email', 'id', 'passwordChangedAt', 'roles', 'tokenGeneration', 'updatedAt']);
  expect(Array.isArray(record.roles) && Object.getPrototypeOf(record.roles) === Array.prototype).toBe(true);
  expect(typeof record.id).toBe('string');
  expect(record.createdAt).toBeInstanceOf(Date);
  expect(JSON.stringify(record)).not.toContain(HASH);
}

describe('users store', () => {
  let database: Database;
  let users: UsersStore;

  beforeAll(async () => {
    database = await connectDatabase(testConfig(), createLogger('silent'));
    users = await createUsersStore(database);
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  it('lets exactly one of 20 concurrent creates of the same email win; the rest throw EmailTakenError', async () => {
    const email = 'race@example.com';
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) => users.create({ email, passwordHash: `${HASH}${index}`, roles: ['USER'] })),
    );
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const result of lost) expect(result.reason).toBeInstanceOf(EmailTakenError);

    const count = await database.connection.db!.collection('users').countDocuments({ email });
    expect(count).toBe(1);
    // The stored hash is the winner's, not a later writer's.
    const winnerIndex = results.findIndex((result) => result.status === 'fulfilled');
    expect((await users.findWithPasswordHash(email))?.passwordHash).toBe(`${HASH}${winnerIndex}`);
  });

  it('refuses a second create of an existing email', async () => {
    await users.create({ email: 'twice@example.com', passwordHash: HASH, roles: [] });
    await expect(users.create({ email: 'twice@example.com', passwordHash: HASH, roles: ['ADMIN'] })).rejects.toBeInstanceOf(EmailTakenError);
  });

  it('returns plain objects without the password hash from create, findById and list', async () => {
    const created = await users.create({ email: 'plain@example.com', passwordHash: HASH, roles: ['USER', 'ADMIN'] });
    expectPlainRecord(created);
    expect(created.email).toBe('plain@example.com');
    expect(created.roles).toEqual(['USER', 'ADMIN']);

    const found = await users.findById(created.id);
    expect(found).not.toBeNull();
    expectPlainRecord(found!);
    expect(found).toEqual(created);

    const listed = await users.list({ limit: 100 });
    expect(listed.length).toBeGreaterThan(0);
    for (const record of listed) expectPlainRecord(record);
    expect(listed.map((record) => record.id)).toContain(created.id);
  });

  it('returns the hash only from findWithPasswordHash, beside a plain record', async () => {
    const created = await users.create({ email: 'hash@example.com', passwordHash: HASH, roles: ['USER'] });
    const found = await users.findWithPasswordHash('hash@example.com');
    expect(found).not.toBeNull();
    expect(found!.passwordHash).toBe(HASH);
    expectPlainRecord(found!.user);
    expect(found!.user.id).toBe(created.id);
  });

  it('answers null from findWithPasswordHash for an unknown email', async () => {
    expect(await users.findWithPasswordHash('nobody@example.com')).toBeNull();
  });

  it.each(['', 'not-an-id', '123', 'abcdefghijkl', 'zzzzzzzzzzzzzzzzzzzzzzzz', '{"$ne":null}'])('answers null from findById for the invalid id %j', async (id) => {
    await expect(users.findById(id)).resolves.toBeNull();
  });

  it('answers null from findById for a well-formed id that does not exist', async () => {
    await expect(users.findById('0123456789abcdef01234567')).resolves.toBeNull();
  });

  it('stores the hash in the collection but keeps it out of records handed back', async () => {
    const created = await users.create({ email: 'raw@example.com', passwordHash: HASH, roles: [] });
    const raw = await database.connection.db!.collection('users').findOne({ email: 'raw@example.com' });
    expect(raw?.['passwordHash']).toBe(HASH);
    expect(created).not.toHaveProperty('passwordHash');
  });
});
