import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLoginThrottle, LOGIN_LIMITS } from '../../src/auth/login-throttle.js';
import { ErrorCode, isGatewayError } from '../../src/errors.js';
import { RETRY_AFTER_SECONDS } from '../../src/graphql/unavailable.plugin.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase, type Database } from '../../src/stores/mongo.js';
import { createRateLimitsStore } from '../../src/stores/rate-limits.store.js';
import { LoginDocument, MySessionsDocument, RefreshDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { startGateway, type GraphQLResponse, type TestGateway } from '../support/gateway.js';
import { OwnDatabase } from '../support/own-database.js';

const PASSWORD = 'correct horse battery staple';
const EMAIL = 'outage@example.com';
const PAIR_POINTS = LOGIN_LIMITS.pair[0]?.points ?? 5;
const isRateLimited = (error: unknown): boolean => isGatewayError(error) && error.code === ErrorCode.RATE_LIMITED;
/** Node cuts a request off after this (src/app.ts): an answer must come well before it. */
const REQUEST_TIMEOUT_MS = 15_000;

function expectUnavailable(response: GraphQLResponse<unknown>, elapsedMs: number): void {
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
  expect(response.body.data ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE });
  expect(elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS / 2);
}

async function timed<T>(request: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await request();
  return [result, performance.now() - started];
}

describe('with its database stopped and started again', () => {
  const database = new OwnDatabase();
  let gateway: TestGateway;
  let refreshToken: string;
  let accessToken: string;

  beforeAll(async () => {
    await database.start();
    // The revocation view is given a long bound here so that mySessions reaches the database (and its driver
    // error) instead of being refused by the view first; the view's own refusal is tested in revocation.test.ts.
    const config = testConfig({ MONGODB_URI: `${database.uri}portcullis_outage`, REVOCATION_MAX_LAG_SECONDS: '120' });
    gateway = await startGateway({ config });
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
    const login = await gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' });
    expect(login.body.errors).toBeUndefined();
    refreshToken = login.body.data!.login.refreshToken!;
    accessToken = login.body.data!.login.accessToken!;
  });
  afterAll(() => database.stopAfter(async () => gateway?.stop()));

  it('answers login, refresh and mySessions with SERVICE_UNAVAILABLE, HTTP 503 and Retry-After while it is down, then recovers on its own', { timeout: 90_000 }, async () => {
    const port = database.port();
    await database.stop();

    const [login, loginMs] = await timed(() => gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' }));
    expectUnavailable(login, loginMs);
    const [refresh, refreshMs] = await timed(() => gateway.request(RefreshDocument, { refreshToken }));
    expectUnavailable(refresh, refreshMs);
    const [sessions, sessionsMs] = await timed(() => gateway.request(MySessionsDocument, {}, { headers: { authorization: `Bearer ${accessToken}` } }));
    expectUnavailable(sessions, sessionsMs);

    // Same port, same data; the gateway is not restarted.
    await database.start(port);
    await vi.waitFor(
      async () => {
        const again = await gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' });
        expect(again.status).toBe(200);
        expect(again.body.errors).toBeUndefined();
      },
      { timeout: 30_000, interval: 250 },
    );

    // Nothing half-written: the refused login left no session, the refused refresh spent nothing.
    const listed = await gateway.request(MySessionsDocument, {}, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(listed.status).toBe(200);
    expect(listed.body.data?.mySessions).toHaveLength(2);
    const rotated = await gateway.request(RefreshDocument, { refreshToken });
    expect(rotated.body.errors).toBeUndefined();
    expect(rotated.body.data?.refresh.refreshToken).toEqual(expect.any(String));
  });
});

describe('a login interrupted by the database between its writes', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await gateway?.stop();
  });

  it('answers SERVICE_UNAVAILABLE and leaves no session in the list, whichever write came first', async () => {
    const first = await gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' });
    const bearer = { headers: { authorization: `Bearer ${first.body.data!.login.accessToken!}` } };

    // The real database throughout; the connection "breaks" at the second write of the login, whichever it is.
    let writes = 0;
    for (const name of ['Session', 'RefreshToken']) {
      const collection = gateway.app.database.connection.models[name]!.collection;
      const insertOne = collection.insertOne.bind(collection);
      vi.spyOn(collection, 'insertOne').mockImplementation((async (...args: Parameters<typeof insertOne>) => {
        if (++writes === 2) throw new mongoose.mongo.MongoNetworkError('connection reset by peer');
        return insertOne(...args);
      }) as typeof collection.insertOne);
    }
    const [interrupted, elapsed] = await timed(() => gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' }));
    vi.restoreAllMocks();
    expect(writes).toBe(2);
    expectUnavailable(interrupted, elapsed);

    const listed = await gateway.request(MySessionsDocument, {}, bearer);
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data?.mySessions).toHaveLength(1);
  });
});

describe('a revocation view too far behind to vouch for tokens', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ REVOCATION_MAX_LAG_SECONDS: '1' }) });
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers @authorized fields with SERVICE_UNAVAILABLE as HTTP 503 with Retry-After too', async () => {
    const login = await gateway.request(LoginDocument, { email: EMAIL, password: PASSWORD, delivery: 'BODY' });
    const bearer = { headers: { authorization: `Bearer ${login.body.data!.login.accessToken!}` } };
    expect((await gateway.request(MySessionsDocument, {}, bearer)).status).toBe(200);

    gateway.app.view.stop();
    await vi.waitFor(
      async () => {
        const [response, elapsed] = await timed(() => gateway.request(MySessionsDocument, {}, bearer));
        expectUnavailable(response, elapsed);
      },
      { timeout: 5_000, interval: 100 },
    );
  });
});

describe('a rate limiter whose database stops answering', () => {
  const database = new OwnDatabase();
  let connected: Database;

  beforeAll(async () => {
    await database.start();
    connected = await connectDatabase(testConfig({ MONGODB_URI: `${database.uri}portcullis_outage_limits` }), createLogger('silent'));
  });
  afterAll(() => database.stopAfter(async () => connected?.close()));

  it('does not count the attempts it could not judge: past its allowance during the outage, it admits once the database is back', { timeout: 60_000 }, async () => {
    const spec = { name: 'outage-5m', points: 3, durationSeconds: 300 };
    const store = await createRateLimitsStore(connected);
    const limiter = store.limiter(spec);
    // A login's throttle reads its counts in one round trip of its own (RateLimitsStore.read), not through begin().
    const logins = createLoginThrottle(store);
    expect((await limiter.begin('client')).allowed).toBe(true);
    await logins.beforeAttempt('retrying@example.com', '203.0.113.80');
    const port = database.port();
    await database.stop();
    for (let attempt = 0; attempt < spec.points + 2; attempt++) await expect(limiter.begin('client')).rejects.toThrow();
    // More logins than the pair's five-minute allowance, as a client retrying through the outage makes them: each
    // fails on the database, never RATE_LIMITED.
    for (let attempt = 0; attempt < PAIR_POINTS + 1; attempt++) {
      await expect(logins.beforeAttempt('retrying@example.com', '203.0.113.80')).rejects.not.toSatisfy(isRateLimited);
    }
    await database.start(port);
    // The first attempts were judged and count; the failed ones do not, so more fit in the allowance.
    await vi.waitFor(async () => expect((await limiter.begin('client')).allowed).toBe(true), { timeout: 30_000, interval: 250 });
    await logins.beforeAttempt('retrying@example.com', '203.0.113.80');
  });
});
