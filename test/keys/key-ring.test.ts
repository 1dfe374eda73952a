import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { TokenRejection } from '../../src/errors.js';
import { ACCESS_TOKEN_TYPE, createAccessTokens } from '../../src/tokens/access-token.js';
import {
  createHmacKey,
  createHmacKeyRing,
  createKeyRing,
  generateSigningKey,
  importSigningKey,
  type AsymmetricAlgorithm,
  type SigningKey,
} from '../../src/tokens/keys.js';
import { PRIVATE_MEMBERS, propertyNames } from './support.js';

/** A fixed instant on a whole second, so the schedule arithmetic is exact. */
const T0 = Date.UTC(2030, 0, 15, 12, 0, 0);
const SECOND = 1000;
const ISSUER = 'portcullis';
const AUDIENCE = 'portcullis';
const TTL_SECONDS = 900;
const TOLERANCE_SECONDS = 5;

interface TestKey {
  readonly key: SigningKey;
  readonly privateJwk: JWK;
}

async function makeKey(
  alg: AsymmetricAlgorithm,
  schedule: { publishedAt: number; activatesAt: number; retiresAt?: number | null },
  options: { canSign?: boolean } = {},
): Promise<TestKey> {
  const { kid, publicJwk, privateJwk } = await generateSigningKey(alg);
  const key = await importSigningKey({
    kid,
    alg,
    publicJwk,
    privateJwk: options.canSign === false ? undefined : privateJwk,
    publishedAt: schedule.publishedAt,
    activatesAt: schedule.activatesAt,
    retiresAt: schedule.retiresAt ?? null,
  });
  return { key, privateJwk };
}

/** The same key with another retirement, as a reload after `store.retire` would build it. */
const retired = (key: SigningKey, retiresAt: number): SigningKey => ({ ...key, retiresAt });

describe('key ring schedule', () => {
  it('signs with the live key that activated last, whatever the order of the list', async () => {
    const a = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 });
    const b = await makeKey('EdDSA', { publishedAt: T0 + 100 * SECOND, activatesAt: T0 + 200 * SECOND });
    const c = await makeKey('EdDSA', { publishedAt: T0 + 100 * SECOND, activatesAt: T0 + 300 * SECOND, retiresAt: T0 + 400 * SECOND });
    for (const ring of [createKeyRing([a.key, b.key, c.key]), createKeyRing([c.key, b.key, a.key])]) {
      expect(ring.current(T0).kid).toBe(a.key.kid);
      expect(ring.current(T0 + 199 * SECOND).kid).toBe(a.key.kid);
      expect(ring.current(T0 + 200 * SECOND).kid).toBe(b.key.kid);
      expect(ring.current(T0 + 300 * SECOND).kid).toBe(c.key.kid);
      // c retired: the latest activation among the keys still live signs again.
      expect(ring.current(T0 + 400 * SECOND).kid).toBe(b.key.kid);
    }
  });

  it('throws when no key is active yet, rather than signing with a merely published one', async () => {
    const pending = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 + 60 * SECOND });
    const ring = createKeyRing([pending.key]);
    expect(() => ring.current(T0)).toThrow();
    expect(ring.current(T0 + 60 * SECOND).kid).toBe(pending.key.kid);
  });

  it('never picks a key it holds no private half for as the signer', async () => {
    const signer = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 });
    const verifyOnly = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 + 10 * SECOND }, { canSign: false });
    expect(verifyOnly.key.signKey).toBeUndefined();
    const ring = createKeyRing([signer.key, verifyOnly.key]);
    expect(ring.current(T0 + 20 * SECOND).kid).toBe(signer.key.kid);
    expect(ring.find(verifyOnly.key.kid, T0 + 20 * SECOND)?.kid).toBe(verifyOnly.key.kid);
  });

  it('finds a key from its publication up to, but not including, its retirement', async () => {
    const { key } = await makeKey('EdDSA', { publishedAt: T0 + 100 * SECOND, activatesAt: T0 + 200 * SECOND, retiresAt: T0 + 500 * SECOND });
    const ring = createKeyRing([key]);
    expect(ring.find(key.kid, T0 + 100 * SECOND - 1)).toBeUndefined();
    expect(ring.find(key.kid, T0 + 100 * SECOND)?.kid).toBe(key.kid);
    // Published but not yet active: it verifies.
    expect(ring.find(key.kid, T0 + 150 * SECOND)?.kid).toBe(key.kid);
    expect(ring.find(key.kid, T0 + 500 * SECOND - 1)?.kid).toBe(key.kid);
    expect(ring.find(key.kid, T0 + 500 * SECOND)).toBeUndefined();
    expect(ring.find(key.kid, T0 + 10_000 * SECOND)).toBeUndefined();
    expect(ring.find('not-a-kid', T0 + 150 * SECOND)).toBeUndefined();
  });

  it('follows a replaced key list at once', async () => {
    const a = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 });
    const b = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 });
    const ring = createKeyRing([a.key]);
    expect(ring.find(b.key.kid, T0)).toBeUndefined();
    ring.replace([b.key]);
    expect(ring.find(a.key.kid, T0)).toBeUndefined();
    expect(ring.find(b.key.kid, T0)?.kid).toBe(b.key.kid);
    expect(ring.current(T0).kid).toBe(b.key.kid);
  });
});

describe('published JWKS', () => {
  it('lists exactly the live asymmetric keys with kid, alg and use "sig", and no private or HMAC material', async () => {
    const hmac = await createHmacKey(new Secret(randomBytes(32)));
    const edOld = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0, retiresAt: T0 + 100 * SECOND });
    const es = await makeKey('ES256', { publishedAt: T0, activatesAt: T0 });
    const rs = await makeKey('RS256', { publishedAt: T0, activatesAt: T0 });
    const ps = await makeKey('PS256', { publishedAt: T0 + 50 * SECOND, activatesAt: T0 + 60 * SECOND });
    const ring = createKeyRing([hmac, edOld.key, es.key, rs.key, ps.key]);

    const kids = (at: number): string[] => ring.jwks(at).map((jwk) => jwk.kid!).sort();
    expect(kids(T0 - 1)).toEqual([]);
    expect(kids(T0)).toEqual([edOld.key.kid, es.key.kid, rs.key.kid].sort());
    expect(kids(T0 + 50 * SECOND)).toEqual([edOld.key.kid, es.key.kid, rs.key.kid, ps.key.kid].sort());
    expect(kids(T0 + 100 * SECOND)).toEqual([es.key.kid, rs.key.kid, ps.key.kid].sort());
    expect(kids(T0 + 50 * SECOND)).not.toContain(hmac.kid);

    const published = ring.jwks(T0 + 50 * SECOND);
    const byKid = new Map([edOld, es, rs, ps].map((made) => [made.key.kid, made.key]));
    for (const jwk of published) {
      const key = byKid.get(jwk.kid!)!;
      expect(jwk).toMatchObject({ kid: key.kid, alg: key.alg, use: 'sig' });
      expect(jwk.kty).toBe(key.alg === 'EdDSA' ? 'OKP' : key.alg === 'ES256' ? 'EC' : 'RSA');
      // The published key is the one the kid names.
      expect(await calculateJwkThumbprint(jwk)).toBe(jwk.kid);
    }
    const names = propertyNames(published);
    for (const member of PRIVATE_MEMBERS) expect(names.has(member), `JWKS member ${member}`).toBe(false);
    // And the private halves really held those members, so the check above can fail.
    expect(Object.keys(edOld.privateJwk)).toContain('d');
    expect(Object.keys(rs.privateJwk)).toEqual(expect.arrayContaining(['d', 'p', 'q', 'dp', 'dq', 'qi']));
  });

  it('hands out copies: changing a returned JWK does not change what is published next', async () => {
    const { key } = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0 });
    const ring = createKeyRing([key]);
    const first = ring.jwks(T0)[0]!;
    first.x = 'tampered';
    (first as Record<string, unknown>)['d'] = 'leak';
    expect(ring.jwks(T0)[0]).toEqual({ ...key.publicJwk, kid: key.kid, alg: 'EdDSA', use: 'sig' });
  });

  it('publishes nothing for the HS256 ring, at any time', async () => {
    const ring = await createHmacKeyRing(new Secret(randomBytes(32)));
    for (const at of [0, T0, Number.MAX_SAFE_INTEGER]) expect(ring.jwks(at)).toEqual([]);
    expect(ring.current(T0).alg).toBe('HS256');
  });
});

describe('generated signing keys', () => {
  it.each(['EdDSA', 'ES256', 'RS256', 'PS256'] as const)('%s: the kid is the RFC 7638 thumbprint and the private half is not in the public JWK', async (alg) => {
    const { kid, publicJwk, privateJwk } = await generateSigningKey(alg);
    expect(kid).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const publicNames = Object.keys(publicJwk);
    for (const member of PRIVATE_MEMBERS) expect(publicNames, `public member ${member}`).not.toContain(member);
    expect(privateJwk.d).toEqual(expect.any(String));

    const expected: Record<typeof alg, Partial<JWK>> = {
      EdDSA: { kty: 'OKP', crv: 'Ed25519' },
      ES256: { kty: 'EC', crv: 'P-256' },
      RS256: { kty: 'RSA', e: 'AQAB' },
      PS256: { kty: 'RSA', e: 'AQAB' },
    };
    expect(publicJwk).toMatchObject(expected[alg]);
    if (publicJwk.kty === 'RSA') expect(Buffer.from(publicJwk.n!, 'base64url').length * 8).toBeGreaterThanOrEqual(2048);

    // Two generations never share a key.
    expect((await generateSigningKey(alg)).kid).not.toBe(kid);
  });

  it.each(['EdDSA', 'ES256', 'RS256', 'PS256'] as const)('%s: an imported key signs tokens that carry its kid and alg and verify', async (alg) => {
    const { key } = await makeKey(alg, { publishedAt: T0, activatesAt: T0 });
    const tokens = createAccessTokens({ keys: createKeyRing([key]), issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, clockToleranceSeconds: TOLERANCE_SECONDS, now: () => T0, cacheSize: 0 });
    const issued = await tokens.issue({ userId: 'user-1', sessionId: 'session-1', roles: ['USER'] });
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg, typ: ACCESS_TOKEN_TYPE, kid: key.kid });
    expect(await tokens.verify(issued.token)).toEqual({ ok: true, claims: issued.claims });
  });
});

describe('access tokens across a rotation (ring level)', () => {
  const LEAD = 600 * SECOND;
  const REACH = (TTL_SECONDS + TOLERANCE_SECONDS) * SECOND;

  /** Old key `a` since T0; `b` published at T1, signing from T1 + lead; `a` retires once its last token has expired. */
  async function rotation(cacheSize: number) {
    const T1 = T0 + 3_600 * SECOND;
    const activation = T1 + LEAD;
    const a = await makeKey('EdDSA', { publishedAt: T0, activatesAt: T0, retiresAt: activation + REACH });
    const b = await makeKey('EdDSA', { publishedAt: T1, activatesAt: activation });
    const ring = createKeyRing([a.key, b.key]);
    let clock = T1;
    const tokens = createAccessTokens({ keys: ring, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, clockToleranceSeconds: TOLERANCE_SECONDS, now: () => clock, cacheSize });
    const at = (ms: number) => {
      clock = ms;
      return tokens;
    };
    /** A token of our shape signed directly with a private JWK, issued at `issuedAtMs`. */
    const signWith = async (made: TestKey, issuedAtMs: number): Promise<string> => {
      const iat = Math.floor(issuedAtMs / 1000);
      return new SignJWT({ sid: 'session-1', roles: ['USER'] })
        .setProtectedHeader({ alg: made.key.alg, typ: ACCESS_TOKEN_TYPE, kid: made.key.kid })
        .setSubject('user-1')
        .setJti(randomBytes(16).toString('base64url'))
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + TTL_SECONDS)
        .sign(await importJWK(made.privateJwk, made.key.alg));
    };
    return { a, b, ring, T1, activation, retiresAt: activation + REACH, at, signWith };
  }

  it.each([0, 100])('verifies a token of the published-but-not-active key before it signs anything (cache size %i)', async (cacheSize) => {
    const { b, T1, at, signWith } = await rotation(cacheSize);
    const early = await signWith(b, T1 + SECOND);
    expect(await at(T1 + SECOND).verify(early)).toMatchObject({ ok: true });
    expect(decodeProtectedHeader((await at(T1 + SECOND).issue({ userId: 'u', sessionId: 's', roles: [] })).token).kid).not.toBe(b.key.kid);
  });

  it.each([0, 100])('keeps the last token of the old key valid to its own expiry, which ends before the key retires (cache size %i)', async (cacheSize) => {
    const { a, b, activation, retiresAt, at } = await rotation(cacheSize);
    const last = await at(activation - SECOND).issue({ userId: 'user-1', sessionId: 'session-1', roles: [] });
    expect(decodeProtectedHeader(last.token).kid).toBe(a.key.kid);
    expect(decodeProtectedHeader((await at(activation).issue({ userId: 'user-1', sessionId: 'session-1', roles: [] })).token).kid).toBe(b.key.kid);

    const lastValidMs = (last.claims.expiresAt + TOLERANCE_SECONDS) * SECOND - 1;
    expect(lastValidMs).toBeLessThan(retiresAt);
    expect(await at(activation).verify(last.token)).toMatchObject({ ok: true });
    expect(await at(lastValidMs).verify(last.token)).toMatchObject({ ok: true });
    expect(await at(lastValidMs + 1).verify(last.token)).toEqual({ ok: false, reason: TokenRejection.TOKEN_EXPIRED });
  });

  it.each([0, 100])('refuses an unexpired token of the old key once the key has retired (cache size %i)', async (cacheSize) => {
    const { a, b, retiresAt, at, signWith } = await rotation(cacheSize);
    const forged = await signWith(a, retiresAt - 10 * SECOND);
    const control = await signWith(b, retiresAt - 10 * SECOND);
    expect(await at(retiresAt - SECOND).verify(forged)).toMatchObject({ ok: true });
    expect(await at(retiresAt - SECOND).verify(control)).toMatchObject({ ok: true });
    expect(await at(retiresAt).verify(forged)).toEqual({ ok: false, reason: TokenRejection.TOKEN_INVALID });
    expect(await at(retiresAt).verify(control)).toMatchObject({ ok: true });
    // A token the retired key signs after its retirement is no better.
    expect(await at(retiresAt + SECOND).verify(await signWith(a, retiresAt + SECOND))).toEqual({ ok: false, reason: TokenRejection.TOKEN_INVALID });
  });

  it('drops a cached token as soon as its key is retired early, long before the token expires', async () => {
    const { a, b, ring, activation, at } = await rotation(100);
    const issued = await at(activation - SECOND).issue({ userId: 'user-1', sessionId: 'session-1', roles: [] });
    const tokens = at(activation);
    expect(await tokens.verify(issued.token)).toMatchObject({ ok: true });
    expect(await tokens.verify(issued.token)).toMatchObject({ ok: true });
    expect(tokens.cacheStats().hits).toBe(1);

    ring.replace([retired(a.key, activation), b.key]);
    expect(await tokens.verify(issued.token)).toEqual({ ok: false, reason: TokenRejection.TOKEN_INVALID });
    expect(tokens.cacheStats()).toMatchObject({ hits: 2, size: 0 });
    // Un-retiring would not resurrect it from the cache either: it is verified afresh.
    ring.replace([a.key, b.key]);
    expect(await tokens.verify(issued.token)).toMatchObject({ ok: true });
    expect(tokens.cacheStats().misses).toBe(2);
  });
});
