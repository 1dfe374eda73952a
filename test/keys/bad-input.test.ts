import { createHmac, createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenRejection } from '../../src/errors.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { isRevocationViewRead } from '../support/commands.js';
import { currentSession, expectAccepted, expectRefused, fetchJwks, forgeToken, keyConfig, kidOf, login, PASSWORD, storedPrivateJwk } from './support.js';

const SECOND = 1000;
const ADA = 'ada@example.com';
const START_MS = Math.floor(Date.now() / 1000) * 1000;
const FLOOD = 500;

const encodeJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An attacker's own key pair, as private and public JWKs. */
async function attackerKey(alg: 'EdDSA' | 'ES256'): Promise<{ privateJwk: JWK; publicJwk: JWK; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateJwk: await exportJWK(privateKey), publicJwk, kid: await calculateJwkThumbprint(publicJwk) };
}

describe('tokens the EdDSA gateway must refuse', () => {
  let clock = START_MS;
  let gateway: TestGateway;
  /** A genuine token, whose identity (sub, sid, roles) every forgery copies. */
  let genuine: string;
  let liveKid: string;
  let livePrivate: JWK;
  let livePublic: JWK;
  /** Counts every request that reaches it: the gateway must never fetch a key from anywhere. */
  let trap: Server;
  let trapUrl: string;
  let trapHits = 0;
  let attacker: Awaited<ReturnType<typeof attackerKey>>;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig({ METRICS_ENABLED: 'true' }), app: { now: () => clock } });
    await gateway.createUser({ email: ADA, password: PASSWORD });
    genuine = (await login(gateway, ADA)).accessToken;
    liveKid = kidOf(genuine);
    livePrivate = await storedPrivateJwk(gateway, liveKid);
    const published = (await fetchJwks(gateway)).keys.find((key) => key.kid === liveKid);
    if (!published) throw new Error('the live key is not published');
    livePublic = published;
    attacker = await attackerKey('EdDSA');
    trap = createServer((_req, res) => {
      trapHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...attacker.publicJwk, kid: attacker.kid, alg: 'EdDSA', use: 'sig' }] }));
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => trap?.close(resolve));
    await gateway?.stop();
  });
  beforeEach(() => {
    clock = START_MS;
  });

  /** The claims the gateway writes, copied from the genuine token, valid now. */
  const claims = (): Record<string, unknown> => {
    const original = decodeJwt(genuine);
    const iat = Math.floor(clock / 1000);
    return { ...original, jti: randomBytes(16).toString('base64url'), iat, exp: iat + 900 };
  };

  /** A compact JWS built by hand, so any header can be written; `signature` signs the signing input. */
  const handMade = (header: Record<string, unknown>, signature: (input: Buffer) => Buffer): string => {
    const input = `${encodeJson({ typ: 'at+jwt', ...header })}.${encodeJson(claims())}`;
    return `${input}.${signature(Buffer.from(input)).toString('base64url')}`;
  };
  const ed25519 = (privateJwk: JWK) => (input: Buffer) => cryptoSign(null, input, createPrivateKey({ key: privateJwk as never, format: 'jwk' }));
  const hs256 = (key: Uint8Array | string) => (input: Buffer) => createHmac('sha256', key).update(input).digest();

  async function cacheStats(): Promise<{ hits: number; misses: number; size: number }> {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const stat = (name: string): number => Number(new RegExp(`^portcullis_access_token_cache\\{stat="${name}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { hits: stat('hits'), misses: stat('misses'), size: stat('size') };
  }

  it('accepts tokens hand-built and jose-built with the live private key (control for every forgery below)', async () => {
    await expectAccepted(gateway, genuine);
    await expectAccepted(gateway, handMade({ alg: 'EdDSA', kid: liveKid }, ed25519(livePrivate)));
    await expectAccepted(gateway, await forgeToken({ like: genuine, privateJwk: livePrivate, header: { alg: 'EdDSA', kid: liveKid }, nowMs: clock }));
  });

  it('refuses a token under an unknown kid, a missing kid or a non-string kid (TOKEN_INVALID)', async () => {
    const sign = ed25519(attacker.privateJwk);
    for (const header of [{ kid: randomBytes(32).toString('base64url') }, { kid: attacker.kid }, {}, { kid: 42 }, { kid: [liveKid] }, { kid: { kid: liveKid } }]) {
      await expectRefused(gateway, handMade({ alg: 'EdDSA', ...header }, sign));
    }
    // The live private key under a kid that is not its own is refused too: lookup is by kid only.
    await expectRefused(gateway, handMade({ alg: 'EdDSA', kid: `${liveKid}x` }, ed25519(livePrivate)));
  });

  it('refuses a token naming the EdDSA key but another algorithm, or signed by another Ed25519 key (TOKEN_INVALID)', async () => {
    const es = await attackerKey('ES256');
    await expectRefused(gateway, await forgeToken({ like: genuine, privateJwk: es.privateJwk, header: { alg: 'ES256', kid: liveKid }, nowMs: clock }));
    await expectRefused(gateway, await forgeToken({ like: genuine, privateJwk: attacker.privateJwk, header: { alg: 'EdDSA', kid: liveKid }, nowMs: clock }));
    // The right key, but the header names another algorithm.
    await expectRefused(gateway, handMade({ alg: 'Ed25519', kid: liveKid }, ed25519(livePrivate)));
    await expectRefused(gateway, handMade({ alg: 'none', kid: liveKid }, () => Buffer.alloc(0)));
  });

  it('refuses HS256 tokens whose HMAC key is the published public key in any encoding (TOKEN_INVALID)', async () => {
    const spki = createPublicKey({ key: livePublic as never, format: 'jwk' });
    const stored = { kty: livePublic.kty, crv: livePublic.crv, x: livePublic.x };
    const jwksBody = await (await fetch(`${gateway.url}/.well-known/jwks.json`)).text();
    const candidates: Array<[string, Uint8Array | string]> = [
      ['the published JWK as JSON', JSON.stringify(livePublic)],
      ['the bare public JWK as JSON', JSON.stringify(stored)],
      ['the JWKS document', jwksBody],
      ['the raw x bytes', Buffer.from(livePublic.x!, 'base64url')],
      ['the x text', livePublic.x!],
      ['the SPKI PEM', spki.export({ type: 'spki', format: 'pem' }) as string],
      ['the SPKI DER', spki.export({ type: 'spki', format: 'der' })],
    ];
    for (const [name, key] of candidates) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const response = await currentSession(gateway, handMade({ alg, kid: liveKid }, hs256(key)));
        expect(response.body.errors?.[0]?.extensions, `${alg} with ${name}`).toEqual({ code: 'UNAUTHENTICATED', reason: TokenRejection.TOKEN_INVALID });
      }
    }
  });

  it('ignores jwk, jku, x5u and x5c headers: an attacker key carried in the token is never used, nothing is fetched', async () => {
    trapHits = 0;
    const pointers = {
      jwk: attacker.publicJwk,
      jku: `${trapUrl}/jwks.json`,
      x5u: `${trapUrl}/cert.pem`,
      x5c: [Buffer.from('not a certificate').toString('base64')],
    };
    for (const kid of [attacker.kid, liveKid, undefined]) {
      await expectRefused(gateway, handMade({ alg: 'EdDSA', ...(kid !== undefined && { kid }), ...pointers }, ed25519(attacker.privateJwk)));
    }
    // The same headers on a token the live key signed do not make it fail: they are simply not read.
    await expectAccepted(gateway, handMade({ alg: 'EdDSA', kid: liveKid, ...pointers }, ed25519(livePrivate)));
    expect(trapHits).toBe(0);
  });

  it(`refuses a flood of ${FLOOD} random kids with no database command, no fetch and no cache growth`, async () => {
    const manager = gateway.app.keyManager!;
    // The key poll is a timer; stopping it means any read of signing_keys now would come from the flood.
    manager.stop();
    const commands: string[] = [];
    const client = gateway.app.database.connection.getClient();
    const listener = (event: CommandStartedEvent): void => {
      const target = (event.command as Record<string, unknown>)[event.commandName];
      // The revocation poll and the expiry sweeper run on timers, whatever the requests.
      if (isRevocationViewRead(event as never)) return;
      if (event.commandName === 'delete') return;
      commands.push(`${event.commandName} ${String(target)}`);
    };
    trapHits = 0;
    const sign = ed25519(attacker.privateJwk);
    const tokens = Array.from({ length: FLOOD }, () => handMade({ alg: 'EdDSA', kid: randomBytes(24).toString('base64url'), jku: `${trapUrl}/jwks.json` }, sign));
    const before = await cacheStats();
    client.on('commandStarted', listener);
    try {
      const reasons: unknown[] = [];
      for (let i = 0; i < tokens.length; i += 25) {
        const batch = await Promise.all(tokens.slice(i, i + 25).map((token) => currentSession(gateway, token)));
        for (const response of batch) reasons.push(response.body.errors?.[0]?.extensions?.['reason']);
      }
      expect(reasons).toHaveLength(FLOOD);
      expect(new Set(reasons)).toEqual(new Set([TokenRejection.TOKEN_INVALID]));
    } finally {
      client.off('commandStarted', listener);
      await manager.start();
    }
    expect(commands).toEqual([]);
    expect(trapHits).toBe(0);
    const after = await cacheStats();
    // Every token reached verification (a miss each) and none was remembered.
    expect(after.misses - before.misses).toBe(FLOOD);
    expect(after.size).toBe(before.size);
    // The listener does see commands, so the assertion above can fail: an authenticated read makes some.
    const seen: string[] = [];
    const control = (event: CommandStartedEvent): void => void seen.push(event.commandName);
    client.on('commandStarted', control);
    await login(gateway, ADA);
    client.off('commandStarted', control);
    expect(seen.length).toBeGreaterThan(0);
  });

  // Last: it rotates. The clock goes back to START_MS after it, when the first key is still the one that signs.
  it('refuses tokens of a retired key once its grace is over, while its successor verifies (TOKEN_INVALID)', async () => {
    const plan = await gateway.app.keyManager!.rotate();
    const retiresAt = plan.retiring.find((entry) => entry.kid === liveKid)?.retiresAt.getTime();
    expect(retiresAt).toBe(plan.activatesAt.getTime() + (900 + 5) * SECOND);
    const successor = await storedPrivateJwk(gateway, plan.kid);

    clock = retiresAt! + 60 * SECOND;
    await expectRefused(gateway, handMade({ alg: 'EdDSA', kid: liveKid }, ed25519(livePrivate)));
    await expectRefused(gateway, await forgeToken({ like: genuine, privateJwk: livePrivate, header: { alg: 'EdDSA', kid: liveKid }, nowMs: clock }));
    await expectAccepted(gateway, handMade({ alg: 'EdDSA', kid: plan.kid }, ed25519(successor)));
    expect((await fetchJwks(gateway)).keys.map((key) => key.kid)).toEqual([plan.kid]);
  });
});
