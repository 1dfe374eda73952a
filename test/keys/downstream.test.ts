import { createHmac, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownstreamServer, createVerifier } from '../../examples/downstream-service.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { fetchJwks, forgeToken, keyConfig, kidOf, login, PASSWORD } from './support.js';

const ADA = 'ada@example.com';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Replaces one character of a token part with another base64url character. */
function tamper(token: string, part: 0 | 1 | 2): string {
  const parts = token.split('.');
  const text = parts[part]!;
  const at = Math.floor(text.length / 2);
  parts[part] = text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  return parts.join('.');
}

/** An HS256 token of the gateway's shape, MACed with `key`. */
function hs256Token(like: string, kid: string, key: Uint8Array | string): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const input = `${encode({ alg: 'HS256', typ: 'at+jwt', kid })}.${encode({ ...decodeJwt(like), iat, exp: iat + 900 })}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

describe('the example downstream service against an EdDSA gateway', () => {
  let gateway: TestGateway;
  let downstream: Server;
  let downstreamUrl: string;
  let userId: string;
  let tokenBeforeRotation: string;

  const call = async (token: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(downstreamUrl, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig({ KEY_ROTATION_LEAD_SECONDS: '0' }) });
    await gateway.createUser({ email: ADA, password: PASSWORD });
    const verify = createVerifier({ gatewayUrl: gateway.url, issuer: 'portcullis', audience: 'portcullis', algorithm: 'EdDSA', jwks: { cooldownDuration: 0 } });
    downstream = createDownstreamServer(verify);
    downstreamUrl = await listen(downstream);
  });
  afterAll(async () => {
    await close(downstream);
    await gateway?.stop();
  });

  it('answers 200 with the user id for a token from a BODY login', async () => {
    const session = await login(gateway, ADA);
    userId = session.userId;
    tokenBeforeRotation = session.accessToken;
    const response = await call(tokenBeforeRotation);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ userId, roles: ['USER'] });
  });

  it('answers 401 without a token, or for a tampered header, payload or signature', async () => {
    expect((await fetch(downstreamUrl)).status).toBe(401);
    for (const part of [0, 1, 2] as const) expect((await call(tamper(tokenBeforeRotation, part))).status).toBe(401);
  });

  it('answers 401 for a token signed by another Ed25519 key under the live kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const forged = await forgeToken({ like: tokenBeforeRotation, privateJwk: await exportJWK(privateKey), header: { alg: 'EdDSA', kid: kidOf(tokenBeforeRotation) }, nowMs: Date.now() });
    expect((await call(forged)).status).toBe(401);
  });

  it('answers 401 for HS256 tokens, including ones MACed with the published public key', async () => {
    const kid = kidOf(tokenBeforeRotation);
    const published = (await fetchJwks(gateway)).keys.find((key) => key.kid === kid)!;
    for (const key of [randomBytes(32), JSON.stringify(published), Buffer.from(published.x!, 'base64url')]) {
      expect((await call(hs256Token(tokenBeforeRotation, kid, key))).status).toBe(401);
    }
  });

  it('accepts tokens of a rotated-in key (refetching the JWKS for the unknown kid) and those issued before the rotation', async () => {
    const oldKid = kidOf(tokenBeforeRotation);
    const plan = await gateway.app.keyManager!.rotate();
    expect(plan.kid).not.toBe(oldKid);

    const { accessToken } = await login(gateway, ADA);
    expect(kidOf(accessToken)).toBe(plan.kid);
    const fresh = await call(accessToken);
    expect(fresh.status).toBe(200);
    expect(fresh.body['userId']).toBe(userId);

    // The old key stays published until its last token has expired.
    expect((await fetchJwks(gateway)).keys.map((key) => key.kid).sort()).toEqual([oldKid, plan.kid].sort());
    const old = await call(tokenBeforeRotation);
    expect(old.status).toBe(200);
    expect(old.body['userId']).toBe(userId);
  });
});

describe('JWKS of an HS256 gateway', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ JWT_ALGORITHM: 'HS256' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('publishes no keys, cacheably, and has no key manager', async () => {
    const jwks = await fetchJwks(gateway);
    expect(jwks.status).toBe(200);
    expect(jwks.keys).toEqual([]);
    expect(jwks.cacheControl).toMatch(/\bmax-age=\d+\b/);
    expect(gateway.app.keyManager).toBeUndefined();
  });

  it('gives a downstream verifier nothing that accepts its tokens', async () => {
    await gateway.createUser({ email: ADA, password: PASSWORD });
    const { accessToken } = await login(gateway, ADA);
    const downstream = createDownstreamServer(createVerifier({ gatewayUrl: gateway.url, issuer: 'portcullis', audience: 'portcullis', algorithm: 'EdDSA', jwks: { cooldownDuration: 0 } }));
    try {
      const url = await listen(downstream);
      const response = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(response.status).toBe(401);
    } finally {
      await close(downstream);
    }
  });
});
