import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoginThrottle, LOGIN_LIMITS, type LoginThrottle } from '../../src/auth/login-throttle.js';
import { ErrorCode, GatewayError, isGatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { COLLECTION_PREFIX, createRateLimitsStore } from '../../src/stores/rate-limits.store.js';
import { MAIL_LIMITS } from '../../src/auth/mail-throttle.js';
import { LoginDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { commandsDuring } from '../support/commands.js';

const PASSWORD = 'correct horse battery staple';
const WRONG = 'not the password at all';
const PAIR_POINTS = LOGIN_LIMITS.pair[0]?.points ?? 5;


/**
 * The commands on the limiters' collections (`rate_limits.<name>`; prefixed "mark", on `rate_limit_marks`) that `action` sends, by name. A find
 * must select its key by equality: FerretDB 1.x answers `key: { $in }` by reading the whole collection (see
 * RateLimitsStore.read), so one is reported as such.
 */
async function throttleCommands(client: mongo.MongoClient, action: () => Promise<unknown>): Promise<string[]> {
  return commandsDuring(client, action, (event) => {
    const collection = event.command[event.commandName];
    if (collection === 'rate_limit_marks') return `mark ${event.commandName}`;
    if (typeof collection !== 'string' || !collection.startsWith(COLLECTION_PREFIX)) return undefined;
    const key = (event.command['filter'] as Record<string, unknown> | undefined)?.['key'];
    return event.commandName === 'find' && typeof key !== 'string' ? 'find (not by key equality)' : event.commandName;
  });
}

describe("the login throttle's database commands on a successful login", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
    for (const name of ['ada', 'bob']) await gateway.createUser({ email: `${name}@example.com`, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const login = async (email: string): Promise<void> => {
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.login.refreshToken).toEqual(expect.any(String));
  };

  it('reads each of the five counters by its key, writes the known-address mark on the first login only, and writes nothing after', async () => {
    const client = gateway.app.database.connection.getClient();
    const reads = ['find', 'find', 'find', 'find', 'find'];
    expect(await throttleCommands(client, () => login('ada@example.com'))).toEqual([...reads, 'mark update']);
    for (let again = 0; again < 3; again++) expect(await throttleCommands(client, () => login('ada@example.com'))).toEqual(reads);
    // Another account from the same address is another pair: its first login writes its own mark.
    expect(await throttleCommands(client, () => login('bob@example.com'))).toEqual([...reads, 'mark update']);
    expect(await throttleCommands(client, () => login('bob@example.com'))).toEqual(reads);
  });

  it("reads each counter where no other limiter's windows are: mail and other accounts' failures add nothing to a login's reads", async () => {
    const client = gateway.app.database.connection.getClient();
    // Windows of other limiters (mailbox counts, reset pairs) and other pairs' login failures, as an attacker
    // spraying guesses and reset requests leaves them. On FerretDB 1.x a find by `key` decodes every document of
    // its collection, so a login must not read through these.
    const store = await createRateLimitsStore(gateway.app.database);
    for (let index = 0; index < 20; index++) {
      await store.limiter(MAIL_LIMITS.mailbox).recordFailure(`victim-${index}@example.com`);
      await store.limiter(MAIL_LIMITS.address).recordFailure(`198.51.100.${index}`);
    }
    for (let index = 0; index < 5; index++) {
      await gateway.app.auth.signIn({ email: `nobody-${index}@example.com`, password: WRONG, client: { address: '203.0.113.99', userAgent: null } }).catch(() => undefined);
    }
    const seen = await commandsDuring(client, () => login('ada@example.com'), (event) => {
      const collection = event.command[event.commandName];
      const key = (event.command['filter'] as Record<string, unknown> | undefined)?.['key'];
      return event.commandName === 'find' && typeof collection === 'string' && collection.startsWith(COLLECTION_PREFIX) ? JSON.stringify({ collection, key: String(key) }) : undefined;
    });
    const finds = seen.map((text) => JSON.parse(text) as { collection: string; key: string });
    expect(finds).toHaveLength(5);
    expect(new Set(finds.map((find) => find.collection)).size).toBe(5);
    for (const { collection, key } of finds) {
      // The document key is `<limiter name>:<key>`: everything in the collection read is that limiter's.
      const limiterName = key.slice(0, key.indexOf(':'));
      const foreign = await gateway.app.database.connection.collection(collection).countDocuments({ key: { $not: new RegExp(`^${limiterName}:`) } });
      expect({ collection, foreign }).toEqual({ collection, foreign: 0 });
    }
  });

  it('refuses an attempt whose pair is spent in this process without any database command', async () => {
    const client = gateway.app.database.connection.getClient();
    const attempt = async (): Promise<string> => {
      try {
        await gateway.app.auth.signIn({ email: 'bob@example.com', password: WRONG, client: { address: '203.0.113.40', userAgent: null } });
      } catch (error) {
        if (isGatewayError(error)) return error.code;
        throw error;
      }
      throw new Error('expected the login to fail');
    };
    for (let failure = 0; failure < PAIR_POINTS; failure++) expect(await attempt()).toBe(ErrorCode.INVALID_CREDENTIALS);
    let code: string | undefined;
    expect(await throttleCommands(client, async () => (code = await attempt()))).toEqual([]);
    expect(code).toBe(ErrorCode.RATE_LIMITED);
  });
});

describe('an attempt refused by the shared address count', () => {
  let database: Database;
  beforeAll(async () => {
    database = await connectDatabase(testConfig(), createLogger('silent'));
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  async function refusal(attempt: Promise<unknown>): Promise<string | undefined> {
    try {
      await attempt;
      return undefined;
    } catch (error) {
      if (error instanceof GatewayError) return error.code;
      throw error;
    }
  }

  it("costs the account-and-address pair nothing: once the address may try again, the pair has its full allowance", async () => {
    const address = '192.0.2.60';
    // Another instance spends the address's budget, so this one's in-process address count still admits.
    const elsewhere = createLoginThrottle(await createRateLimitsStore(database));
    for (let attempt = 0; attempt < LOGIN_LIMITS.address.points; attempt++) await elsewhere.beforeAddressAttempt(address);
    const store = await createRateLimitsStore(database);
    const throttle: LoginThrottle = createLoginThrottle(store);
    for (let attempt = 0; attempt < 2 * PAIR_POINTS; attempt++) expect(await refusal(throttle.beforeAttempt('victim@example.com', address))).toBe(ErrorCode.RATE_LIMITED);

    // The address's window ends (its document goes, as the sweeper would remove it).
    const where = store.limiter(LOGIN_LIMITS.address).sharedKey(address);
    await database.connection.collection(where.collection).deleteOne({ key: where.key });
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) {
      const ticket = await throttle.beforeAttempt('victim@example.com', address);
      await throttle.afterFailure(ticket);
    }
    expect(await refusal(throttle.beforeAttempt('victim@example.com', address))).toBe(ErrorCode.RATE_LIMITED);
  });
});
