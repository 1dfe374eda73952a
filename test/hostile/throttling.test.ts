import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDelaySeconds, createLoginThrottle, LOGIN_LIMITS, type LoginThrottle } from '../../src/auth/login-throttle.js';
import { createMailThrottle, MAIL_LIMITS } from '../../src/auth/mail-throttle.js';
import { ErrorCode, GatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRateLimitsStore } from '../../src/stores/rate-limits.store.js';
import { testConfig } from '../support/config.js';
import { countingHasher } from '../support/counting-hasher.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL, type RawResponse } from './support.js';

const PAIR_POINTS = LOGIN_LIMITS.pair[0]?.points ?? 5;
const WRONG = 'not the password at all';


function expectRateLimited(response: RawResponse): void {
  expect(response.status).toBe(200);
  expect(response.json?.data).toBeNull();
  const extensions = response.json?.errors?.[0]?.extensions;
  expect(extensions?.['code']).toBe(ErrorCode.RATE_LIMITED);
  expect(Object.keys(extensions ?? {}).sort()).toEqual(['code', 'retryAfterSeconds']);
  const retryAfter = extensions?.['retryAfterSeconds'];
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(LOGIN_LIMITS.pair[0]?.durationSeconds ?? 300);
  expect(response.setCookies).toEqual([]);
}

describe('login throttling over HTTP', () => {
  let gateway: TestGateway;
  const passwords = countingHasher();

  beforeAll(async () => {
    gateway = await startGateway({ app: { passwords } });
    for (const name of ['ada', 'bob', 'carol', 'dave', 'erin', 'frank']) await gateway.createUser({ email: `${name}@example.com`, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const login = (email: string, password: string): Promise<RawResponse> => postGraphQL(gateway.url, { query: LOGIN, variables: { email, password } });

  it('refuses the 6th attempt on one account from one address with RATE_LIMITED, even with the right password, and sets no cookie', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(firstCode(await login('ada@example.com', WRONG))).toBe(ErrorCode.INVALID_CREDENTIALS);
    const before = passwords.evaluated();
    expectRateLimited(await login('ada@example.com', PASSWORD));
    // Refused before any password check.
    expect(passwords.evaluated()).toBe(before);
    // The same address may still sign in to another account: the key is the pair, not the address.
    expect((await login('bob@example.com', PASSWORD)).setCookies).toHaveLength(2);
  });

  it('counts the email after normalisation: case and spaces do not buy extra attempts', async () => {
    const spellings = ['carol@example.com', 'CAROL@example.com', ' carol@EXAMPLE.com', 'Carol@Example.Com ', 'cArOl@example.com'];
    for (const email of spellings) expect(firstCode(await login(email, WRONG))).toBe(ErrorCode.INVALID_CREDENTIALS);
    expectRateLimited(await login('CAROL@EXAMPLE.COM', PASSWORD));
  });

  it('starts the pair over after a correct login', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS - 1; attempt++) await login('dave@example.com', WRONG);
    expect((await login('dave@example.com', PASSWORD)).setCookies).toHaveLength(2);
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(firstCode(await login('dave@example.com', WRONG))).toBe(ErrorCode.INVALID_CREDENTIALS);
    expectRateLimited(await login('dave@example.com', PASSWORD));
  });

  it('throttles an unknown email exactly like a known one (no enumeration through the throttle)', async () => {
    const sequence = async (email: string): Promise<Array<{ code: unknown; extensions: string[] }>> => {
      const answers = [];
      for (let attempt = 0; attempt <= PAIR_POINTS; attempt++) {
        const response = await login(email, WRONG);
        answers.push({ code: firstCode(response), extensions: Object.keys(response.json?.errors?.[0]?.extensions ?? {}).sort() });
      }
      return answers;
    };
    const known = await sequence('erin@example.com');
    const unknown = await sequence('nobody-at-all@example.com');
    expect(unknown).toEqual(known);
    expect(known.map((answer) => answer.code)).toEqual([...Array<string>(PAIR_POINTS).fill(ErrorCode.INVALID_CREDENTIALS), ErrorCode.RATE_LIMITED]);
  });

  it('evaluates at most 5 of 20 concurrent wrong attempts on one pair and refuses the rest with RATE_LIMITED', async () => {
    const before = passwords.evaluated();
    const responses = await Promise.all(Array.from({ length: 20 }, () => login('frank@example.com', WRONG)));
    const codes = responses.map(firstCode);
    expect(codes.every((code) => code === ErrorCode.INVALID_CREDENTIALS || code === ErrorCode.RATE_LIMITED)).toBe(true);
    const evaluated = passwords.evaluated() - before;
    expect(evaluated).toBeLessThanOrEqual(PAIR_POINTS);
    expect(codes.filter((code) => code === ErrorCode.INVALID_CREDENTIALS)).toHaveLength(evaluated);
    for (const response of responses.filter((r) => firstCode(r) === ErrorCode.RATE_LIMITED)) expectRateLimited(response);
    expect(codes.filter((code) => code === ErrorCode.RATE_LIMITED).length).toBeGreaterThanOrEqual(20 - PAIR_POINTS);
  });

  it('throttles changePassword with a wrong current password (INVALID_CREDENTIALS, then RATE_LIMITED): a stolen session is no password oracle', async () => {
    await gateway.createUser({ email: 'gina@example.com', password: PASSWORD });
    const session = await postGraphQL(gateway.url, {
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken } }',
      variables: { e: 'gina@example.com', p: PASSWORD },
    });
    const token = (session.json?.data as { login: { accessToken: string } }).login.accessToken;
    const change = (currentPassword: string): Promise<RawResponse> =>
      postGraphQL(
        gateway.url,
        { query: 'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }', variables: { c: currentPassword, n: 'a brand new passphrase' } },
        { authorization: `Bearer ${token}` },
      );
    const hashedBefore = passwords.calls.hash;
    // The login above reset the pair, so the wrong guesses get the full allowance, and no more.
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(firstCode(await change(WRONG))).toBe(ErrorCode.INVALID_CREDENTIALS);
    const refused = await change(PASSWORD);
    expect(firstCode(refused)).toBe(ErrorCode.RATE_LIMITED);
    expect(refused.json?.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeGreaterThan(0);
    // No new password was hashed, so none was stored, not even by the right guess made while refused.
    expect(passwords.calls.hash).toBe(hashedBefore);
  });
});

describe('login throttle counters across a restart', () => {
  it('still refuses the 6th attempt on a new gateway instance over the same database', async () => {
    const config = testConfig();
    const first = await startGateway({ config });
    let second: TestGateway | undefined;
    try {
      await first.createUser({ email: 'ada@example.com', password: PASSWORD });
      for (let attempt = 0; attempt < PAIR_POINTS; attempt++) {
        const response = await postGraphQL(first.url, { query: LOGIN, variables: { email: 'ada@example.com', password: WRONG } });
        expect(firstCode(response)).toBe(ErrorCode.INVALID_CREDENTIALS);
      }
      // Not first.stop(): that drops the database, counters included.
      await first.app.stop();
      second = await startGateway({ config });
      expectRateLimited(await postGraphQL(second.url, { query: LOGIN, variables: { email: 'ada@example.com', password: PASSWORD } }));
    } finally {
      if (second) await second.stop();
      else {
        await first.app.database.connection.dropDatabase().catch(() => undefined);
        await first.app.stop().catch(() => undefined);
      }
    }
  });
});

describe('createLoginThrottle with the real rate-limits store', () => {
  let database: Database;
  let throttle: LoginThrottle;

  beforeAll(async () => {
    database = await connectDatabase(testConfig(), createLogger('silent'));
    throttle = createLoginThrottle(await createRateLimitsStore(database));
  });
  afterAll(async () => {
    await database?.connection.dropDatabase();
    await database?.close();
  });

  /** A wrong password: the attempt is begun and then recorded as a failure. */
  async function fail(email: string, address: string): Promise<void> {
    await throttle.afterFailure(await throttle.beforeAttempt(email, address));
  }

  async function refusal(attempt: Promise<unknown>): Promise<GatewayError | undefined> {
    try {
      await attempt;
      return undefined;
    } catch (error) {
      if (error instanceof GatewayError) return error;
      throw error;
    }
  }

  it('keeps the victim able to sign in from another address after an attacker exhausts the pair from theirs', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(await refusal(fail('victim@example.com', '203.0.113.66'))).toBeUndefined();
    const blocked = await refusal(throttle.beforeAttempt('victim@example.com', '203.0.113.66'));
    expect(blocked?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(Number.isInteger(blocked?.retryAfterSeconds)).toBe(true);
    expect(blocked?.retryAfterSeconds).toBeGreaterThan(0);
    expect(await refusal(throttle.beforeAttempt('victim@example.com', '198.51.100.7'))).toBeUndefined();
    expect(await refusal(throttle.beforeAttempt('victim@example.com', '2001:db8::1'))).toBeUndefined();
  });

  it('keeps counting across a second throttle built on the same database (the store, not the process, holds the counts)', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) await fail('restart@example.com', '203.0.113.9');
    const fresh = createLoginThrottle(await createRateLimitsStore(database));
    expect((await refusal(fresh.beforeAttempt('restart@example.com', '203.0.113.9')))?.code).toBe(ErrorCode.RATE_LIMITED);
  });

  it(`refuses password spraying: after ${LOGIN_LIMITS.address.points} attempts from one address on different accounts, a new account is refused too`, async () => {
    const address = '192.0.2.250';
    const total = LOGIN_LIMITS.address.points;
    await Promise.all(Array.from({ length: total }, (_, index) => fail(`spray${index}@example.com`, address)));
    const refused = await refusal(throttle.beforeAttempt('never-tried@example.com', address));
    expect(refused?.code).toBe(ErrorCode.RATE_LIMITED);
    expect(refused?.retryAfterSeconds).toBeGreaterThan(0);
    // Another address is untouched.
    expect(await refusal(throttle.beforeAttempt('never-tried@example.com', '192.0.2.251'))).toBeUndefined();
  });

  it('does not let a correct login reset the per-address counter (the success itself is not counted, no more)', async () => {
    const address = '192.0.2.77';
    await Promise.all(Array.from({ length: LOGIN_LIMITS.address.points - 1 }, () => throttle.beforeAddressAttempt(address)));
    await throttle.afterSuccess(await throttle.beforeAttempt('ok@example.com', address));
    // The 99 earlier attempts still count: one more failure reaches the limit, and the next attempt is refused.
    await fail('other@example.com', address);
    expect((await refusal(throttle.beforeAttempt('third@example.com', address)))?.code).toBe(ErrorCode.RATE_LIMITED);
  });

  /** Refusals of `count` more attempts on the pair, each answered before the next (no password is checked). */
  async function retryAfters(on: LoginThrottle, email: string, address: string, count: number): Promise<Array<number | undefined>> {
    const seen: Array<number | undefined> = [];
    for (let attempt = 0; attempt < count; attempt++) {
      const refused = await refusal(on.beforeAttempt(email, address));
      expect(refused?.code).toBe(ErrorCode.RATE_LIMITED);
      seen.push(refused?.retryAfterSeconds);
    }
    return seen;
  }

  const [fiveMinutes, anHour, aDay] = LOGIN_LIMITS.pair.map((spec) => spec);

  it("keeps a pair waiting five minutes, not an hour or a day, however often it tries while refused here (the longer windows count failures)", async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) await fail('patient@example.com', '203.0.113.70');
    // More attempts than the hour's and the day's allowance, all while the five minutes run.
    const waits = await retryAfters(throttle, 'patient@example.com', '203.0.113.70', (aDay?.points ?? 50) + 5);
    expect(Math.max(...waits.map((wait) => wait ?? Number.NaN))).toBeLessThanOrEqual(fiveMinutes?.durationSeconds ?? 300);
    expect(anHour?.points).toBeLessThan(waits.length);
  });

  it('keeps the pair at five minutes on another instance too, refused there by the shared count', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) await fail('elsewhere@example.com', '203.0.113.71');
    const other = createLoginThrottle(await createRateLimitsStore(database));
    const waits = await retryAfters(other, 'elsewhere@example.com', '203.0.113.71', (aDay?.points ?? 50) + 5);
    expect(Math.max(...waits.map((wait) => wait ?? Number.NaN))).toBeLessThanOrEqual(fiveMinutes?.durationSeconds ?? 300);
  });

  it("keeps password-reset requests refused for five minutes, not an hour, however often they are asked again while refused", async () => {
    const mail = createMailThrottle(await createRateLimitsStore(database));
    const [requests, hourly] = MAIL_LIMITS.pair;
    for (let request = 0; request < (requests?.points ?? 5); request++) await mail.beforeResetRequest('asker@example.com', '203.0.113.72');
    const waits: Array<number | undefined> = [];
    for (let request = 0; request < (hourly?.points ?? 20) + 5; request++) waits.push((await refusal(mail.beforeResetRequest('asker@example.com', '203.0.113.72')))?.retryAfterSeconds);
    expect(waits.filter((wait) => wait === undefined)).toEqual([]);
    expect(Math.max(...waits.map((wait) => wait ?? Number.NaN))).toBeLessThanOrEqual(requests?.durationSeconds ?? 300);
  });

  describe('the per-account soft limit (guessing spread over many addresses)', () => {
    const free = LOGIN_LIMITS.account.points;

    /** Begins `count` attempts on `email`, each from an address of its own, before any of them fails. */
    async function ticketsFromManyAddresses(email: string, count: number, network: string): Promise<Array<Awaited<ReturnType<LoginThrottle['beforeAttempt']>>>> {
      return Promise.all(Array.from({ length: count }, (_, index) => throttle.beforeAttempt(email, `${network}.${index + 1}`)));
    }

    it('makes each failure past the free ones double the wait of the next attempt from a new address, up to the cap', async () => {
      const tickets = await ticketsFromManyAddresses('spread@example.com', free + 4, '198.18.0');
      const waits: Array<number | undefined> = [];
      for (const [index, ticket] of tickets.entries()) {
        await throttle.afterFailure(ticket);
        // A probe from an address never seen: refused while the account waits, and never counted as a failure.
        waits.push((await refusal(throttle.beforeAttempt('spread@example.com', `198.18.1.${index + 1}`)))?.retryAfterSeconds);
      }
      expect(waits).toEqual([...Array<undefined>(free).fill(undefined), 2, 4, 8, 16]);
      expect([free, free + 1, free + 4, free + 6, free + 50].map(accountDelaySeconds)).toEqual([0, 2, 16, LOGIN_LIMITS.account.maxDelaySeconds, LOGIN_LIMITS.account.maxDelaySeconds]);
    });

    it('spares an address that has signed in to the account before, and slows an unknown email exactly like a known one', async () => {
      await throttle.afterSuccess(await throttle.beforeAttempt('owner@example.com', '198.51.100.20'));
      for (const email of ['owner@example.com', 'no-such-account@example.com']) {
        for (const ticket of await ticketsFromManyAddresses(email, free + 3, '198.18.2')) await throttle.afterFailure(ticket);
        const slowed = await refusal(throttle.beforeAttempt(email, '198.18.3.1'));
        expect(slowed?.code).toBe(ErrorCode.RATE_LIMITED);
        expect(slowed?.retryAfterSeconds).toBe(accountDelaySeconds(free + 3));
      }
      expect(await refusal(throttle.beforeAttempt('owner@example.com', '198.51.100.20'))).toBeUndefined();
    });
  });
});
