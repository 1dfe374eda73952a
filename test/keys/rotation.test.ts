import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeyManager, type KeyManager } from '../../src/auth/key-manager.js';
import { Secret } from '../../src/config/secret.js';
import { TokenRejection } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { connectDatabase } from '../../src/stores/mongo.js';
import { createSigningKeysStore, type SigningKeysStore } from '../../src/stores/signing-keys.store.js';
import { createKeyEncryption } from '../../src/tokens/key-encryption.js';
import { CurrentSessionDocument, LoginDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import {
  expectAccepted,
  expectRefused,
  fetchJwks,
  forgeToken,
  jwksKids,
  keyConfig,
  kidOf,
  login,
  PASSWORD,
  PRIVATE_MEMBERS,
  propertyNames,
  retireStoredKey,
  storedPrivateJwk,
} from './support.js';

const SECOND = 1000;
const LEAD_SECONDS = 600;
const TTL_SECONDS = 900;
const TOLERANCE_SECONDS = 5;
const ADA = 'ada@example.com';

/** Now, on a whole second, so that iat/exp arithmetic is exact. */
const START_MS = Math.floor(Date.now() / 1000) * 1000;

describe('EdDSA key rotation, played out on the gateway clock', () => {
  let clock = START_MS;
  let gateway: TestGateway;
  let oldKid: string;
  let newKid: string;
  const T1 = START_MS + 60 * SECOND;
  const ACTIVATION = T1 + LEAD_SECONDS * SECOND;
  const RETIREMENT = ACTIVATION + (TTL_SECONDS + TOLERANCE_SECONDS) * SECOND;
  /** The last token the old key signs: issued one second before the new key activates. */
  let lastOldToken: string;
  /** A token forged with the old key's private half, unexpired when the key retires. */
  let oldKeyForgery: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig(), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('creates exactly one signing key on first start and signs tokens with it', async () => {
    const jwks = await fetchJwks(gateway);
    expect(jwks.status).toBe(200);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    oldKid = jwks.keys[0]!.kid;

    const { accessToken } = await login(gateway, ADA);
    expect(decodeProtectedHeader(accessToken)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: oldKid });
    await expectAccepted(gateway, accessToken);
    // The published key is the one that verifies it.
    await expect(jwtVerify(accessToken, createLocalJWKSet({ keys: jwks.keys }), { currentDate: new Date(clock) })).resolves.toBeDefined();
    expect(await (await createSigningKeysStore(gateway.app.database)).list()).toHaveLength(1);
  });

  it('does not create another key when a second gateway starts on the same database', async () => {
    const second = await startGateway({ config: gateway.config, app: { now: () => clock } });
    try {
      expect(await jwksKids(second)).toEqual([oldKid]);
      const { accessToken } = await login(second, ADA);
      expect(kidOf(accessToken)).toBe(oldKid);
      // Either instance accepts the other's tokens.
      await expectAccepted(gateway, accessToken);
      expect(await (await createSigningKeysStore(gateway.app.database)).list()).toHaveLength(1);
    } finally {
      // app.stop, not second.stop: the database is shared and must outlive this second instance.
      await second.app.stop();
    }
  });

  it('publishes the next key as soon as it is rotated, and keeps signing with the current one until activation', async () => {
    clock = T1;
    const plan = await gateway.app.keyManager!.rotate();
    newKid = plan.kid;
    expect(newKid).not.toBe(oldKid);
    expect(plan).toEqual({
      kid: newKid,
      publishedAt: new Date(T1),
      activatesAt: new Date(ACTIVATION),
      retiring: [{ kid: oldKid, retiresAt: new Date(RETIREMENT) }],
    });

    const jwks = await fetchJwks(gateway);
    expect(jwks.keys.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    // Verifiers may cache the JWKS for half the lead time, so they learn of the new key before it signs.
    expect(jwks.cacheControl).toMatch(new RegExp(`max-age=${LEAD_SECONDS / 2}\\b`));

    expect(kidOf((await login(gateway, ADA)).accessToken)).toBe(oldKid);
    clock = ACTIVATION - SECOND;
    lastOldToken = (await login(gateway, ADA)).accessToken;
    expect(kidOf(lastOldToken)).toBe(oldKid);
  });

  it('accepts a token of the published, not yet active, key before it signs', async () => {
    clock = T1 + 10 * SECOND;
    const early = await forgeToken({ like: lastOldToken, privateJwk: await storedPrivateJwk(gateway, newKid), header: { alg: 'EdDSA', kid: newKid }, nowMs: clock });
    await expectAccepted(gateway, early);
  });

  it('signs with the new key from its activation on', async () => {
    clock = ACTIVATION;
    const { accessToken } = await login(gateway, ADA);
    expect(decodeProtectedHeader(accessToken)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: newKid });
    await expectAccepted(gateway, accessToken);
  });

  it("keeps accepting the old key's last token until its own expiry, which comes before the key retires", async () => {
    const { exp } = decodeJwt(lastOldToken);
    expect(exp).toBe((ACTIVATION - SECOND) / SECOND + TTL_SECONDS);
    const lastValid = (exp! + TOLERANCE_SECONDS) * SECOND - SECOND;
    expect(lastValid).toBeLessThan(RETIREMENT);

    clock = ACTIVATION;
    await expectAccepted(gateway, lastOldToken);
    clock = lastValid;
    await expectAccepted(gateway, lastOldToken);
    expect(await jwksKids(gateway)).toContain(oldKid);
    clock = lastValid + SECOND;
    await expectRefused(gateway, lastOldToken, TokenRejection.TOKEN_EXPIRED);
  });

  // No token the gateway issues can outlive the old key (the schedule above proves it), so retirement is shown
  // with a token forged from the old key's stored private half: unexpired, genuinely signed, and still refused.
  it('takes the old key out of the JWKS when it retires and refuses its unexpired tokens from then on', async () => {
    clock = RETIREMENT - 100 * SECOND;
    const oldPrivate = await storedPrivateJwk(gateway, oldKid);
    oldKeyForgery = await forgeToken({ like: lastOldToken, privateJwk: oldPrivate, header: { alg: 'EdDSA', kid: oldKid }, nowMs: clock });
    const newKeyToken = await forgeToken({ like: lastOldToken, privateJwk: await storedPrivateJwk(gateway, newKid), header: { alg: 'EdDSA', kid: newKid }, nowMs: clock });
    // Control: the forgeries are well formed and, while the key is live, accepted (and cached).
    await expectAccepted(gateway, oldKeyForgery);
    await expectAccepted(gateway, oldKeyForgery);

    clock = RETIREMENT - SECOND;
    expect(await jwksKids(gateway)).toEqual([oldKid, newKid].sort());
    await expectAccepted(gateway, oldKeyForgery);

    clock = RETIREMENT;
    expect(await jwksKids(gateway)).toEqual([newKid]);
    expect(decodeJwt(oldKeyForgery).exp! * SECOND).toBeGreaterThan(clock);
    await expectRefused(gateway, oldKeyForgery, TokenRejection.TOKEN_INVALID);
    await expectRefused(gateway, await forgeToken({ like: lastOldToken, privateJwk: oldPrivate, header: { alg: 'EdDSA', kid: oldKid }, nowMs: clock }));
    await expectAccepted(gateway, newKeyToken);
    expect(kidOf((await login(gateway, ADA)).accessToken)).toBe(newKid);
  });

  it('starts another instance after the retirement with the surviving key and no new one', async () => {
    const third = await startGateway({ config: gateway.config, app: { now: () => clock } });
    try {
      expect(await jwksKids(third)).toEqual([newKid]);
      expect(kidOf((await login(third, ADA)).accessToken)).toBe(newKid);
      await expectRefused(third, oldKeyForgery);
      expect((await (await createSigningKeysStore(gateway.app.database)).list()).map((key) => key.kid)).toEqual([oldKid, newKid]);
    } finally {
      await third.app.stop();
    }
  });
});

describe.each(['EdDSA', 'ES256', 'RS256', 'PS256'] as const)('%s signing keys', (alg) => {
  let clock = START_MS;
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig({ JWT_ALGORITHM: alg }), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('issues tokens whose header alg and kid name the published key, which verifies them, before and after a rotation', async () => {
    const kty = alg === 'EdDSA' ? 'OKP' : alg === 'ES256' ? 'EC' : 'RSA';
    const first = await fetchJwks(gateway);
    expect(first.keys).toEqual([expect.objectContaining({ kty, alg, use: 'sig' })]);
    if (kty === 'RSA') expect(Buffer.from(first.keys[0]!.n!, 'base64url').length * 8).toBeGreaterThanOrEqual(2048);
    const before = (await login(gateway, ADA)).accessToken;
    expect(decodeProtectedHeader(before)).toEqual({ alg, typ: 'at+jwt', kid: first.keys[0]!.kid });
    await expectAccepted(gateway, before);
    await expect(jwtVerify(before, createLocalJWKSet({ keys: first.keys }), { algorithms: [alg], currentDate: new Date(clock) })).resolves.toBeDefined();

    const plan = await gateway.app.keyManager!.rotate();
    clock = plan.activatesAt.getTime();
    const second = await fetchJwks(gateway);
    expect(second.keys.map((key) => key.kid).sort()).toEqual([first.keys[0]!.kid, plan.kid].sort());
    const after = (await login(gateway, ADA)).accessToken;
    expect(decodeProtectedHeader(after)).toEqual({ alg, typ: 'at+jwt', kid: plan.kid });
    await expectAccepted(gateway, after);
    await expectAccepted(gateway, before);
    await expect(jwtVerify(after, createLocalJWKSet({ keys: second.keys }), { algorithms: [alg], currentDate: new Date(clock) })).resolves.toBeDefined();
    // The old JWKS alone does not know the new key: a verifier has to refetch.
    await expect(jwtVerify(after, createLocalJWKSet({ keys: first.keys }), { algorithms: [alg], currentDate: new Date(clock) })).rejects.toThrow();
  });
});

describe('stored signing keys', () => {
  let clock = START_MS;
  let gateway: TestGateway;
  let store: SigningKeysStore;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig(), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
    store = await createSigningKeysStore(gateway.app.database);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('keeps private keys encrypted at rest: no private JWK member in the documents, and only the gateway secret opens them', async () => {
    await gateway.app.keyManager!.rotate();
    const documents = await gateway.app.database.connection.db!.collection('signing_keys').find({}).toArray();
    expect(documents).toHaveLength(2);
    const encryption = createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret);
    const wrong = createKeyEncryption(new Secret(randomBytes(32)));
    for (const document of documents) {
      const names = propertyNames(document);
      for (const member of PRIVATE_MEMBERS) expect(names.has(member), `stored member ${member}`).toBe(false);
      const kid = String(document._id);
      const sealed = document['sealedPrivateJwk'] as { iv: string; tag: string; data: string };
      expect(Object.keys(sealed).sort()).toEqual(['data', 'iv', 'tag']);

      const opened = encryption.open(kid, sealed);
      expect(opened).toMatchObject({ ...(document['publicJwk'] as object), d: expect.any(String) });
      // The private scalar appears nowhere in the document, in any encoding we might have written it in.
      const raw = JSON.stringify(document);
      expect(raw).not.toContain(opened.d);
      expect(raw).not.toContain(Buffer.from(opened.d!, 'base64url').toString('base64'));
      expect(raw).not.toContain(Buffer.from(opened.d!, 'base64url').toString('hex'));

      expect(() => wrong.open(kid, sealed)).toThrow();
      // The kid is bound in: a sealed key moved to another id does not open.
      expect(() => encryption.open(`${kid}x`, sealed)).toThrow();
    }
  });

  it('lets exactly one of two concurrent rotations insert a key; the other throws', async () => {
    // "Concurrent" as the design means it: both rotations have read the schedule before either writes. Left to
    // timing, the second read can land after the first insert (another pool connection), and that is simply two
    // rotations in a row; so the writes are held (and then passed through to the database) until both arrive.
    const collection = gateway.app.database.connection.models['SigningKey']!.collection;
    const insertOne = collection.insertOne.bind(collection);
    let arrivals = 0;
    let release!: () => void;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    const held = vi.spyOn(collection, 'insertOne').mockImplementation((async (...args: Parameters<typeof insertOne>) => {
      if (++arrivals === 2) release();
      await bothArrived;
      return insertOne(...args);
    }) as typeof collection.insertOne);
    const before = await store.list();
    let results: Array<PromiseSettledResult<Awaited<ReturnType<KeyManager['rotate']>>>>;
    try {
      results = await Promise.allSettled([gateway.app.keyManager!.rotate(), gateway.app.keyManager!.rotate()]);
    } finally {
      held.mockRestore();
    }
    expect(arrivals).toBe(2);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(1);
    const after = await store.list();
    expect(after).toHaveLength(before.length + 1);
    const generations = after.map((key) => key.generation);
    expect(new Set(generations).size).toBe(generations.length);
    const winner = results.find((result) => result.status === 'fulfilled')!.value;
    expect(await jwksKids(gateway)).toContain(winner.kid);
  });

  /**
   * Two key managers on one database, as two gateway instances (or an instance and keys:rotate) would be. The
   * second one reads the stored schedule first; the first one then does its whole job; only then does the
   * second one go on. Both decided on the same schedule, so the unique generation must let exactly one insert.
   */
  function racingManagers(sharedStore: SigningKeysStore) {
    let firstRead!: () => void;
    const secondHasRead = new Promise<void>((resolve) => (firstRead = resolve));
    let firstDone: Promise<unknown> = Promise.resolve();
    let reads = 0;
    const leading: SigningKeysStore = {
      list: () => sharedStore.list(),
      retire: (kid, at, mac) => sharedStore.retire(kid, at, mac),
      async insert(key) {
        await secondHasRead;
        return sharedStore.insert(key);
      },
    };
    const trailing: SigningKeysStore = {
      async list() {
        const listed = await sharedStore.list();
        if (++reads === 1) {
          firstRead();
          await firstDone.catch(() => {});
        }
        return listed;
      },
      retire: (kid, at, mac) => sharedStore.retire(kid, at, mac),
      insert: (key) => sharedStore.insert(key),
    };
    const manager = (managerStore: SigningKeysStore) =>
      createKeyManager({
        store: managerStore,
        encryption: createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret),
        algorithm: 'EdDSA',
        leadSeconds: LEAD_SECONDS,
        tokenReachSeconds: TTL_SECONDS + TOLERANCE_SECONDS,
        logger: createLogger('silent'),
        now: () => clock,
      });
    const first = manager(leading);
    const second = manager(trailing);
    return {
      first,
      second,
      /** Runs `job` on both, the second one reading first and resuming only once the first has finished. */
      async race<T>(job: (manager: KeyManager) => Promise<T>): Promise<[PromiseSettledResult<T>, PromiseSettledResult<T>]> {
        const secondRun = job(second);
        const firstRun = job(first);
        firstDone = firstRun;
        const [a, b] = await Promise.allSettled([firstRun, secondRun]);
        return [a, b];
      },
    };
  }

  it('lets one of two rotations decided on the same schedule insert a key; the other throws and inserts nothing', async () => {
    const before = await store.list();
    const { race } = racingManagers(store);
    const [first, second] = await race((manager) => manager.rotate());
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    const after = await store.list();
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)!.generation).toBe(before.at(-1)!.generation + 1);
  });

  it('creates a single first key when two instances start at once on an empty database, and both sign with it', async () => {
    const config = keyConfig();
    const database = await connectDatabase(config, createLogger('silent'));
    try {
      const emptyStore = await createSigningKeysStore(database);
      const { first, second, race } = racingManagers(emptyStore);
      const results = await race((manager) => manager.start());
      first.stop();
      second.stop();
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
      const stored = await emptyStore.list();
      expect(stored).toHaveLength(1);
      // Otherwise each instance would sign with a key the other does not know until its next poll.
      expect(first.ring.current(clock).kid).toBe(stored[0]!.kid);
      expect(second.ring.current(clock).kid).toBe(stored[0]!.kid);
    } finally {
      await database.connection.dropDatabase();
      await database.close();
    }
  });

  it('publishes a rotated key exactly the lead time before it activates, however long the key takes to make', async () => {
    // A clock that moves on every reading, as real time does while a key pair is generated.
    let ticking = clock;
    const manager = createKeyManager({
      store,
      encryption: createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret),
      algorithm: 'EdDSA',
      leadSeconds: LEAD_SECONDS,
      tokenReachSeconds: TTL_SECONDS + TOLERANCE_SECONDS,
      logger: createLogger('silent'),
      now: () => (ticking += 7),
    });
    const plan = await manager.rotate();
    expect(plan.activatesAt.getTime() - plan.publishedAt.getTime()).toBe(LEAD_SECONDS * SECOND);
    for (const retiring of plan.retiring) expect(retiring.retiresAt.getTime()).toBe(plan.activatesAt.getTime() + (TTL_SECONDS + TOLERANCE_SECONDS) * SECOND);
    const stored = (await store.list()).find((key) => key.kid === plan.kid)!;
    expect(stored.activatesAt.getTime() - stored.publishedAt.getTime()).toBe(LEAD_SECONDS * SECOND);
  });
});

describe('verified-token cache and early retirement', () => {
  let clock = START_MS;
  let gateway: TestGateway;

  /** portcullis_access_token_cache{stat} from /metrics. */
  async function cacheStat(stat: 'hits' | 'misses' | 'size'): Promise<number> {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const match = new RegExp(`^portcullis_access_token_cache\\{stat="${stat}"\\} (\\d+)$`, 'm').exec(text);
    if (!match) throw new Error(`no ${stat} in /metrics`);
    return Number(match[1]);
  }

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig({ METRICS_ENABLED: 'true' }), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('never answers from the cache for a token whose key was retired early', async () => {
    const { accessToken } = await login(gateway, ADA);
    const kid = kidOf(accessToken);
    await gateway.app.keyManager!.rotate();

    const hitsBefore = await cacheStat('hits');
    await expectAccepted(gateway, accessToken);
    await expectAccepted(gateway, accessToken);
    expect(await cacheStat('hits')).toBeGreaterThan(hitsBefore);

    // An emergency: the key is retired now, long before its scheduled retirement and the token's expiry.
    clock += 30 * SECOND;
    await retireStoredKey(gateway, kid, new Date(clock));
    // The ring still holds the old schedule until it reloads (the poll does it within 30 s).
    await expectAccepted(gateway, accessToken);
    await gateway.app.keyManager!.reload();

    expect(decodeJwt(accessToken).exp! * SECOND).toBeGreaterThan(clock);
    await expectRefused(gateway, accessToken, TokenRejection.TOKEN_INVALID);
    await expectRefused(gateway, accessToken, TokenRejection.TOKEN_INVALID);
    expect(await jwksKids(gateway)).not.toContain(kid);
  });

  it('never moves a scheduled retirement later', async () => {
    const store = await createSigningKeysStore(gateway.app.database);
    const [retired] = await store.list();
    await retireStoredKey(gateway, retired!.kid, new Date(clock + 3_600 * SECOND));
    expect((await store.list())[0]!.retiresAt).toEqual(retired!.retiresAt);
  });
});

describe('a stored key written under another secret', () => {
  it('is ignored entirely (neither verifies nor is published), and a gateway finding no key of its own signs with a new one', async () => {
    const first = await startGateway({ config: testConfig({ JWT_ALGORITHM: 'EdDSA' }) });
    const second = await startGateway({
      config: testConfig({
        JWT_ALGORITHM: 'EdDSA',
        MONGODB_URI: first.config.database.uri,
        DATA_DIR: first.config.dataDir,
      }),
    });
    try {
      const kidsOf = async (gateway: TestGateway): Promise<string[]> =>
        ((await (await fetch(`${gateway.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid).sort();
      const firstKids = await kidsOf(first);
      expect(firstKids).toHaveLength(1);
      await second.app.keyManager!.reload();
      await first.app.keyManager!.reload();
      const secondKids = await kidsOf(second);
      expect(secondKids).toHaveLength(1);
      expect(secondKids).not.toEqual(firstKids);
      // Both records are stored; each gateway trusts only the one MACed under its own secret.
      expect(await (await createSigningKeysStore(first.app.database)).list()).toHaveLength(2);
      expect(await kidsOf(first)).toEqual(firstKids);

      await first.createUser({ email: 'ada@example.com', password: PASSWORD });
      const fromFirst = await first.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD, delivery: 'BODY' });
      const token = fromFirst.body.data?.login.accessToken ?? '';
      expect(kidOf(token)).toBe(firstKids[0]);
      await expectAccepted(first, token);
      await expectRefused(second, token, TokenRejection.TOKEN_INVALID);
    } finally {
      await second.app.stop();
      await first.stop();
    }
  });
});
