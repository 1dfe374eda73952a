import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRevocationView } from '../../src/auth/revocation-view.js';
import type { Config } from '../../src/config/config.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { createRevocationsStore, type RevocationsStore } from '../../src/stores/revocations.store.js';
import { LoginDocument, MeDocument, RevokeSessionDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { startGateway, type GraphQLResponse, type RequestOptions, type TestGateway } from '../support/gateway.js';
import { PASSWORD } from './support.js';

/** B's clock runs this far behind A's: inside the 30 s the docs allow between instances. */
const SKEW_MS = 20_000;
/** The documented reach of a revocation across instances. */
const REACH_MS = 1_000;

interface SignedIn {
  readonly sessionId: string;
  readonly accessToken: string;
  readonly auth: RequestOptions;
}

const bearer = (token: string): RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function signIn(gateway: TestGateway, email: string): Promise<SignedIn> {
  const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
  expect(response.body.errors).toBeUndefined();
  const accessToken = response.body.data?.login.accessToken ?? '';
  const sid = decodeJwt(accessToken)['sid'];
  if (typeof sid !== 'string') throw new Error('expected a sid');
  return { sessionId: sid, accessToken, auth: bearer(accessToken) };
}

function isRevoked(response: GraphQLResponse<unknown>): boolean {
  const extensions = response.body.errors?.[0]?.extensions;
  return extensions?.['code'] === ErrorCode.UNAUTHENTICATED && extensions['reason'] === TokenRejection.TOKEN_INVALID;
}

/** Asks `gateway` until it refuses the token as revoked; returns how long that took (Infinity: never, within `withinMs` × 3). */
async function timeUntilRefused(gateway: TestGateway, session: SignedIn, withinMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < withinMs * 3) {
    const response = await gateway.request(MeDocument, {}, session.auth);
    if (isRevoked(response)) return performance.now() - started;
    expect(response.body.errors, 'the token is either accepted or refused as revoked').toBeUndefined();
    await sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

describe('revocations between instances whose clocks differ by 20 seconds', () => {
  let config: Config;
  let a: TestGateway;
  let b: TestGateway;
  /** Moves A's clock forward (tests move time instead of sleeping). */
  let aheadOfA = 0;
  let email: string;

  beforeAll(async () => {
    config = testConfig();
    a = await startGateway({ config, app: { now: () => Date.now() + aheadOfA } });
    b = await startGateway({ config, app: { now: () => Date.now() - SKEW_MS } });
    email = (await a.createUser({ email: 'skew@example.com', password: PASSWORD })).email;
  });
  afterAll(async () => {
    // b.stop() drops the shared database; a only closes its connection.
    await a?.app.stop();
    await b?.stop();
  });

  it('keeps refusing a session revoked by the slower instance until its token has expired everywhere', async () => {
    const victim = await signIn(a, email);
    const actor = await signIn(a, email);
    expect((await a.request(MeDocument, {}, victim.auth)).body.errors).toBeUndefined();

    // The revoke is written by B, dated by B's clock, 20 s behind the clock that issued the token.
    const revoke = await b.request(RevokeSessionDocument, { id: victim.sessionId }, actor.auth);
    expect(revoke.body.data?.revokeSession).toBe(true);
    expect(await timeUntilRefused(a, victim, REACH_MS)).toBeLessThan(REACH_MS);

    // Near the end of the token's life by A's clock: still valid by its exp, so only the entry stands between.
    const { exp } = decodeJwt(victim.accessToken);
    aheadOfA = (exp as number) * 1000 - 3_000 - Date.now();
    try {
      expect((await a.request(MeDocument, {}, actor.auth)).body.errors, 'control: an unrevoked token of the same age is accepted').toBeUndefined();
      expect(isRevoked(await a.request(MeDocument, {}, victim.auth))).toBe(true);
    } finally {
      aheadOfA = 0;
    }
  });
});

describe('revocations that commit late', () => {
  let config: Config;
  let a: TestGateway;
  let b: TestGateway;
  let store: RevocationsStore;
  let email: string;

  beforeAll(async () => {
    config = testConfig();
    a = await startGateway({ config });
    b = await startGateway({ config });
    store = await createRevocationsStore(a.app.database);
    email = (await a.createUser({ email: 'late@example.com', password: PASSWORD })).email;
  });
  afterAll(async () => {
    await a?.app.stop();
    await b?.stop();
  });

  it('reaches another instance within a second however old the timestamp its writer gave it', async () => {
    const session = await signIn(a, email);
    expect((await b.request(MeDocument, {}, session.auth)).body.errors).toBeUndefined();
    // Let B poll a few times first, so its position is well past the entry's date.
    await sleep(1_000);

    // Written now, dated ten minutes ago: a writer whose clock is behind, or whose insert took that long to commit.
    const at = Date.now();
    expect(await store.add({ kind: 'session', id: session.sessionId, at: new Date(at - 10 * 60_000), expiresAt: new Date(at + 20 * 60_000) })).toBe('inserted');
    expect(await timeUntilRefused(b, session, REACH_MS)).toBeLessThan(REACH_MS);
  });

  /**
   * A revocation B has seen, then every entry removed as the sweeper (or a TTL index) would once all expired:
   * numbering may start again from the bottom. Answers a session still live, for the next revocation.
   */
  async function revokeThenSweepEverything(): Promise<SignedIn> {
    const earlier = await signIn(a, email);
    const later = await signIn(a, email);
    await a.request(RevokeSessionDocument, { id: earlier.sessionId }, later.auth);
    expect(await timeUntilRefused(b, earlier, REACH_MS)).toBeLessThan(REACH_MS);
    for (const name of ['revocations', 'revocation_feed']) await a.app.database.connection.db?.collection(name).deleteMany({});
    await sleep(500);
    return later;
  }

  it('reaches another instance within a second after every earlier entry expired and was swept away', async () => {
    const later = await revokeThenSweepEverything();
    const next = await signIn(a, email);
    await a.request(RevokeSessionDocument, { id: later.sessionId }, next.auth);
    expect(await timeUntilRefused(b, later, REACH_MS)).toBeLessThan(REACH_MS);
  });

  it('reaches another instance within a second when, after every entry was swept, a writer just started numbers from 1', async () => {
    const later = await revokeThenSweepEverything();
    // A writer with no memory of earlier numbers (a process started after the sweep) finds none and takes 1.
    const fresh = await createRevocationsStore(a.app.database);
    const at = Date.now();
    expect(await fresh.add({ kind: 'session', id: later.sessionId, at: new Date(at), expiresAt: new Date(at + 20 * 60_000) })).toBe('inserted');
    expect((await fresh.listAll()).map((stored) => stored.seq)).toEqual([1]);
    expect(await timeUntilRefused(b, later, REACH_MS)).toBeLessThan(REACH_MS);
  });

  it('steps over a number its writer never published within about a second, and enforces both entries', async () => {
    const stranded = await signIn(a, email);
    const beyond = await signIn(a, email);
    const view = createRevocationView({ store, logger: createLogger('silent'), now: Date.now, pollIntervalMs: 50, maxLagMs: 5_000 });
    await view.start();
    try {
      const tokenOf = (session: SignedIn): { userId: string; sessionId: string; tokenId: string; generation: number } => ({ userId: 'any', sessionId: session.sessionId, tokenId: 'any', generation: 0 });
      // A writer that stopped between its two inserts (or runs a release before the feed): the entry is stored
      // and numbered, but no poll reads its number.
      const top = Math.max(0, ...(await store.listAll()).map((stored) => stored.seq ?? 0));
      await a.app.database.connection.db
        ?.collection<Record<string, unknown> & { _id: string }>('revocations')
        .insertOne({ _id: `session:${stranded.sessionId}`, seq: top + 1, kind: 'session', id: stranded.sessionId, at: new Date(), expiresAt: new Date(Date.now() + 60_000) });
      // The next writer numbers after it and publishes.
      expect(await a.request(RevokeSessionDocument, { id: beyond.sessionId }, stranded.auth)).toMatchObject({ body: { data: { revokeSession: true } } });
      const started = performance.now();
      while (view.check(tokenOf(beyond)) === 'live' && performance.now() - started < 5_000) await sleep(50);
      // Well inside the periodic full load (a minute): the hole was stepped over.
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(view.check(tokenOf(beyond))).toBe('revoked');
      expect(view.check(tokenOf(stranded))).toBe('revoked');
    } finally {
      view.stop();
    }
  });

  it('picks up, by its periodic full reload, an entry that no poll can see', async () => {
    const session = await signIn(a, email);
    const view = createRevocationView({ store, logger: createLogger('silent'), now: Date.now, pollIntervalMs: 50, maxLagMs: 5_000, fullReloadMs: 500 });
    await view.start();
    try {
      const token = { userId: 'any', sessionId: session.sessionId, tokenId: 'any', generation: 0 };
      expect(view.check(token)).toBe('live');
      // An entry without a sequence number (as written before there was one): polls never return it.
      await a.app.database.connection.db
        ?.collection<Record<string, unknown> & { _id: string }>('revocations')
        .insertOne({ _id: `session:${session.sessionId}`, kind: 'session', id: session.sessionId, at: new Date(), expiresAt: new Date(Date.now() + 60_000) });
      const started = performance.now();
      while (view.check(token) === 'live' && performance.now() - started < 5_000) await sleep(50);
      expect(view.check(token)).toBe('revoked');
    } finally {
      view.stop();
    }
  });
});

describe('a burst of revocations written by two instances at once', () => {
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    const config = testConfig();
    a = await startGateway({ config });
    b = await startGateway({ config });
  });
  afterAll(async () => {
    await a?.app.stop();
    await b?.stop();
  });

  it('reaches a third reader, every entry of it, within seconds of the last write', { timeout: 60_000 }, async () => {
    // Two writers that collide on numbers and publish out of order, and a reader polling as a gateway does.
    const writers = await Promise.all([createRevocationsStore(a.app.database), createRevocationsStore(b.app.database)]);
    const reader = createRevocationView({ store: await createRevocationsStore(a.app.database), logger: createLogger('silent'), now: Date.now, pollIntervalMs: 250, maxLagMs: 5_000 });
    await reader.start();
    try {
      const ids = Array.from({ length: 200 }, (_unused, index) => `burst-${index}`);
      const expiresAt = new Date(Date.now() + 10 * 60_000);
      await Promise.all(ids.map((id, index) => (writers[index % 2] as RevocationsStore).add({ kind: 'session', id, at: new Date(), expiresAt })));
      const written = performance.now();
      const token = (id: string): { userId: string; sessionId: string; tokenId: string; generation: number } => ({ userId: 'any', sessionId: id, tokenId: 'any', generation: 0 });
      const missing = (): string[] => ids.filter((id) => reader.check(token(id)) !== 'revoked');
      while (missing().length > 0 && performance.now() - written < 10_000) await sleep(50);
      expect(missing()).toEqual([]);
      // Polls, and a hole stepped over after a second: well inside the periodic full load (a minute), with room
      // for a loaded machine.
      expect(performance.now() - written).toBeLessThan(4_000);
    } finally {
      reader.stop();
    }
  });
});
