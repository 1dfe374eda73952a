import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyManager } from '../../src/auth/key-manager.js';
import { TokenRejection } from '../../src/errors.js';
import { createSigningKeysStore } from '../../src/stores/signing-keys.store.js';
import { createKeyEncryption } from '../../src/tokens/key-encryption.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { expectAccepted, expectRefused, fetchJwks, forgeToken, jwksKids, keyConfig, kidOf, login, PASSWORD, retireStoredKey } from './support.js';

const SECOND = 1000;
const ADA = 'ada@example.com';
const START_MS = Math.floor(Date.now() / 1000) * 1000;

/** An attacker's key pair: what someone who can write to the database but lacks the gateway secret can make. */
async function attackerKey(): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

function signingKeys(gateway: TestGateway) {
  return gateway.app.database.connection.db!.collection<Record<string, unknown> & { _id: string }>('signing_keys');
}

/** A record of exactly the stored shape, published and active since `at`, that only verifies (no usable private half). */
function forgedRecord(kid: string, publicJwk: JWK, generation: number, at: number, mac: string | undefined): Record<string, unknown> & { _id: string } {
  return {
    _id: kid,
    alg: 'EdDSA',
    generation,
    publicJwk,
    sealedPrivateJwk: { iv: randomBytes(12).toString('base64url'), tag: randomBytes(16).toString('base64url'), data: randomBytes(48).toString('base64url') },
    publishedAt: new Date(at - 60 * SECOND),
    activatesAt: new Date(at - 60 * SECOND),
    retiresAt: null,
    ...(mac !== undefined && { mac }),
  };
}

async function refusedGauge(gateway: TestGateway): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const match = /^portcullis_signing_keys_refused (\d+)$/m.exec(text);
  if (!match) throw new Error('no portcullis_signing_keys_refused in /metrics');
  return Number(match[1]);
}

describe('signing-key records written without the gateway secret', () => {
  let clock = START_MS;
  let gateway: TestGateway;
  let genuine: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig({ METRICS_ENABLED: 'true' }), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
    genuine = (await login(gateway, ADA)).accessToken;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('refuses tokens of a verify-only key inserted into the collection and keeps it out of the JWKS', async () => {
    const withoutMac = await attackerKey();
    const withBadMac = await attackerKey();
    const kids = ['forged-without-mac', 'forged-with-a-made-up-mac'];
    await signingKeys(gateway).insertMany([
      forgedRecord(kids[0]!, withoutMac.publicJwk, 1000, clock, undefined),
      forgedRecord(kids[1]!, withBadMac.publicJwk, 1001, clock, randomBytes(32).toString('base64url')),
    ]);
    await gateway.app.keyManager!.reload();

    const published = await fetchJwks(gateway);
    expect(published.keys.map((key) => key.kid)).toEqual([kidOf(genuine)]);
    for (const [index, attacker] of [withoutMac, withBadMac].entries()) {
      const forged = await forgeToken({ like: genuine, privateJwk: attacker.privateJwk, header: { alg: 'EdDSA', kid: kids[index] }, nowMs: clock });
      await expectRefused(gateway, forged, TokenRejection.TOKEN_INVALID);
      // A downstream service trusting the published JWKS refuses it too.
      await expect(jwtVerify(forged, createLocalJWKSet({ keys: published.keys }), { currentDate: new Date(clock) })).rejects.toThrow();
    }
    await expectAccepted(gateway, genuine);
    expect(await refusedGauge(gateway)).toBe(2);
  });

  it('does not launder a forged record through a rotation: it stays refused, the genuine keys rotate', async () => {
    const oldKid = kidOf(genuine);
    const plan = await gateway.app.keyManager!.rotate();
    // The rotation retired the genuine old key, and only it.
    expect(plan.retiring.map((entry) => entry.kid)).toEqual([oldKid]);
    expect(await jwksKids(gateway)).toEqual([oldKid, plan.kid].sort());
    const stored = await signingKeys(gateway).find({ _id: { $in: ['forged-without-mac', 'forged-with-a-made-up-mac'] } }).toArray();
    for (const record of stored) expect(record['retiresAt']).toBeNull();

    clock = plan.activatesAt.getTime();
    const after = (await login(gateway, ADA)).accessToken;
    expect(kidOf(after)).toBe(plan.kid);
    await expectAccepted(gateway, after);
    await expectAccepted(gateway, genuine);
    expect(await refusedGauge(gateway)).toBe(2);
  });

  it('ignores a genuine key whose retirement was undone in the database', async () => {
    const oldKid = kidOf(genuine);
    // An emergency retirement by the operator (re-MACed, as keys:rotate does).
    clock += 10 * SECOND;
    await retireStoredKey(gateway, oldKid, new Date(clock));
    await gateway.app.keyManager!.reload();
    await expectRefused(gateway, genuine);

    // Someone with write access brings it back.
    const undone = await signingKeys(gateway).updateOne({ _id: oldKid }, { $set: { retiresAt: null } });
    expect(undone.modifiedCount).toBe(1);
    await gateway.app.keyManager!.reload();
    await expectRefused(gateway, genuine, TokenRejection.TOKEN_INVALID);
    expect(await jwksKids(gateway)).not.toContain(oldKid);
    expect(await refusedGauge(gateway)).toBe(3);
  });
});

describe('a genuine key whose public half is replaced in the database', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig() });
    await gateway.createUser({ email: ADA, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('is ignored, so the attacker key under its kid verifies nothing; the next start signs with a fresh key', async () => {
    const genuine = (await login(gateway, ADA)).accessToken;
    const kid = kidOf(genuine);
    const attacker = await attackerKey();
    await signingKeys(gateway).updateOne({ _id: kid }, { $set: { publicJwk: attacker.publicJwk } });
    await gateway.app.keyManager!.reload();

    const forged = await forgeToken({ like: genuine, privateJwk: attacker.privateJwk, header: { alg: 'EdDSA', kid }, nowMs: Date.now() });
    await expectRefused(gateway, forged);
    await expectRefused(gateway, genuine);
    expect(await jwksKids(gateway)).toEqual([]);

    // No valid signer remains: an instance starting now makes a fresh key, as on a first start.
    const next = await startGateway({ config: gateway.config });
    try {
      const fresh = (await login(next, ADA)).accessToken;
      expect(kidOf(fresh)).not.toBe(kid);
      expect(await jwksKids(next)).toEqual([kidOf(fresh)]);
      await expectAccepted(next, fresh);
      await expectRefused(next, forged);
    } finally {
      await next.app.stop();
    }
  });

  it('refuses a record without a MAC (written before records were authenticated) the same way', async () => {
    const store = await createSigningKeysStore(gateway.app.database);
    const [legacy] = (await store.list()).filter((key) => key.retiresAt === null && key.mac !== null);
    await signingKeys(gateway).updateOne({ _id: legacy!.kid }, { $unset: { mac: '' } });
    expect((await store.list()).find((key) => key.kid === legacy!.kid)?.mac).toBeNull();
    await gateway.app.keyManager!.reload();
    expect(await jwksKids(gateway)).not.toContain(legacy!.kid);
  });
});

describe('the key manager on a refused record', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig() });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('logs one error per refused kid, however often it reloads, naming the kid and no key material', async () => {
    const attacker = await attackerKey();
    await signingKeys(gateway).insertOne(forgedRecord('forged-once', attacker.publicJwk, 500, Date.now(), 'not-a-mac'));
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const manager = createKeyManager({
      store: await createSigningKeysStore(gateway.app.database),
      encryption: createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret),
      algorithm: 'EdDSA',
      leadSeconds: 600,
      tokenReachSeconds: 905,
      logger,
      now: Date.now,
    });
    await manager.reload();
    await manager.reload();
    await manager.reload();
    const errors = lines.filter((line) => line['kid'] === 'forged-once');
    expect(errors).toHaveLength(1);
    expect(errors[0]!['level']).toBe(50);
    expect(manager.refusedCount()).toBe(1);
    expect(manager.ring.find('forged-once', Date.now())).toBeUndefined();
    expect(JSON.stringify(lines)).not.toContain(attacker.publicJwk.x!);
  });
});
