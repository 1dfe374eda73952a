import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_LIMITS } from '../../src/auth/login-throttle.js';
import { ErrorCode, isGatewayError } from '../../src/errors.js';
import { COLLECTION_PREFIX, createLocalCounter } from '../../src/stores/rate-limits.store.js';
import { countingHasher } from '../support/counting-hasher.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

setFlagsFromString('--expose-gc');
/** A full collection before each reading, so the heap figures are what is kept, not garbage waiting. */
const gc = runInNewContext('gc') as () => void;
const MB = 1024 * 1024;
const ATTEMPTS = 20_000;
/** The collections a login reads or writes (and every limiter's own, COLLECTION_PREFIX); the revocation view's poll and the expiry sweeper run on timers. */
const LOGIN_COLLECTIONS = new Set(['users', 'sessions', 'refresh_tokens', 'audit_events']);

async function failedLogin(gateway: TestGateway, email: string, address: string): Promise<string> {
  try {
    await gateway.app.auth.signIn({ email, password: 'not the password at all', client: { address, userAgent: null } });
  } catch (error) {
    if (isGatewayError(error)) return error.code;
    throw error;
  }
  throw new Error('expected the login to fail');
}

/** The JavaScript heap in use, Node's buffers outside it, and the resident set, after a full collection. */
function memory(): { heap: number; buffers: number; rss: number } {
  gc();
  const { heapUsed, external, rss } = process.memoryUsage();
  return { heap: heapUsed, buffers: external, rss };
}

/**
 * Calls the auth service's signIn directly: the login resolver's whole path (email check, throttle, account
 * lookup, password check) without 20,000 HTTP round trips.
 */
describe(`${ATTEMPTS} failed logins with distinct emails from one address`, () => {
  let gateway: TestGateway;
  // Real argon2id, at a cost far below what configuration allows: this test is about the limiter, and the
  // address's first 100 attempts (and the warm-up's) would otherwise spend a minute hashing.
  const passwords = countingHasher({ argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
  let commands = 0;
  const count = (event: mongo.CommandStartedEvent): void => {
    const target = event.command[event.commandName];
    if (typeof target === 'string' && (LOGIN_COLLECTIONS.has(target) || target.startsWith(COLLECTION_PREFIX))) commands++;
  };

  beforeAll(async () => {
    gateway = await startGateway({ app: { passwords } });
    gateway.app.database.connection.getClient().on('commandStarted', count);
  });
  afterAll(async () => {
    gateway?.app.database.connection.getClient().off('commandStarted', count);
    await gateway?.stop();
  });

  it('cost at most one database command each once refused, check no password, and grow the heap, the buffers and the resident set by under 20 MB', { timeout: 120_000 }, async () => {
    // Warm-up from another address: the code, argon2's threads and the driver's pools are all in use before the
    // first reading.
    await Promise.all(Array.from({ length: 20 }, (_, index) => failedLogin(gateway, `warm${index}@example.com`, '198.51.100.1')));
    // The address's budget, spent all at once (each a real account lookup and password check): the slow part.
    const budget = LOGIN_LIMITS.address.points;
    const first = await Promise.all(Array.from({ length: budget }, (_, index) => failedLogin(gateway, `guess${index}@example.com`, '203.0.113.99')));
    expect(first.every((code) => code === ErrorCode.INVALID_CREDENTIALS)).toBe(true);
    // Measured from here: the refusals are what must stay flat. The burst above runs argon2id at 19 MiB each on
    // native threads, whose freed memory the allocator may keep (on Node 24 it kept about 60 MB of RSS).
    const before = memory();

    // Then the rest, one at a time, so that each one's commands can be counted.
    let refused = 0;
    let worstRefusalCommands = 0;
    const halfway = budget + Math.floor((ATTEMPTS - budget) / 2);
    let middle = before;
    const evaluatedBefore = passwords.evaluated();
    for (let index = budget; index < ATTEMPTS; index++) {
      const commandsBefore = commands;
      const code = await failedLogin(gateway, `guess${index}@example.com`, '203.0.113.99');
      expect(code).toBe(ErrorCode.RATE_LIMITED);
      refused++;
      if (index === halfway) middle = memory();
      worstRefusalCommands = Math.max(worstRefusalCommands, commands - commandsBefore);
      // Fail early rather than grind through 20,000 expensive refusals.
      if (worstRefusalCommands > 1) break;
    }
    const evaluatedWhileRefused = passwords.evaluated() - evaluatedBefore;
    const after = memory();

    expect(worstRefusalCommands).toBeLessThanOrEqual(1);
    expect(evaluatedWhileRefused).toBe(0);
    expect(refused).toBe(ATTEMPTS - budget);
    expect((after.heap - before.heap) / MB).toBeLessThan(20);
    expect((after.buffers - before.buffers) / MB).toBeLessThan(20);
    // The resident set over the second half of the refusals: what grows with each refusal shows there in full,
    // while the allocator's and V8's one-time growth under load (tens of MB more on Node 24 than on 20) does not.
    expect((after.rss - middle.rss) / MB).toBeLessThan(20);
  });
});

describe('the in-process counter', () => {
  it('keeps at most its cap of keys, however many it is shown, the least recently used going first', () => {
    const counter = createLocalCounter({ name: 'test', points: 5, durationSeconds: 86_400 }, 1000);
    for (let index = 0; index < ATTEMPTS; index++) counter.consume(`key${index}`, 0);
    expect(counter.size()).toBe(1000);
    // The newest keys are the ones kept: their counts still refuse on time.
    for (let attempt = 1; attempt < 5; attempt++) expect(counter.consume(`key${ATTEMPTS - 1}`, 0)).toBe(0);
    expect(counter.consume(`key${ATTEMPTS - 1}`, 0)).toBe(86_400_000);
  });
});
