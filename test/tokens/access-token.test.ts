import { createHmac, randomBytes } from 'node:crypto';
import { base64url, CompactSign, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type CompactJWSHeaderParameters } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { TokenRejection } from '../../src/errors.js';
import {
  ACCESS_TOKEN_TYPE,
  createAccessTokens,
  MAX_ACCESS_TOKEN_LENGTH,
  type AccessTokens,
  type AccessTokenVerification,
} from '../../src/tokens/access-token.js';
import { ACCESS_TOKEN_ALGORITHM, createHmacKeyRing, type KeyRing } from '../../src/tokens/keys.js';
import { generateRefreshToken, isWellFormedRefreshToken } from '../../src/tokens/refresh-token.js';

const ISSUER = 'https://portcullis.test';
const AUDIENCE = 'portcullis-api';
const TTL_SECONDS = 900;
const TOLERANCE_SECONDS = 5;
/** A fixed instant, on a whole second, so expiry arithmetic is exact. */
const START_MS = Date.UTC(2030, 0, 15, 12, 0, 0);

const INVALID: AccessTokenVerification = { ok: false, reason: TokenRejection.TOKEN_INVALID };
const EXPIRED: AccessTokenVerification = { ok: false, reason: TokenRejection.TOKEN_EXPIRED };

type Claims = Record<string, unknown>;
type Header = CompactJWSHeaderParameters & Record<string, unknown>;
type SigningKeyLike = Parameters<CompactSign['sign']>[0];

const encoder = new TextEncoder();
const encodeJson = (value: unknown): string => base64url.encode(JSON.stringify(value));

describe('access tokens', () => {
  /** The raw key bytes, kept by the test so attacks can reuse them under other algorithms. */
  let secretBytes: Buffer;
  let keys: KeyRing;
  let tokens: AccessTokens;
  let clock: number;
  const nowSeconds = (): number => Math.floor(clock / 1000);

  beforeAll(async () => {
    secretBytes = randomBytes(32);
    keys = await createHmacKeyRing(new Secret(secretBytes));
    tokens = createAccessTokens({
      keys,
      issuer: ISSUER,
      audience: AUDIENCE,
      ttlSeconds: TTL_SECONDS,
      clockToleranceSeconds: TOLERANCE_SECONDS,
      now: () => clock,
      // As in production: every attack below is verified through the cache path too.
      cacheSize: 1000,
    });
  });
  beforeEach(() => {
    clock = START_MS;
  });

  /** The header our issuer writes. */
  const header = (overrides: Record<string, unknown> = {}): Header =>
    ({ alg: ACCESS_TOKEN_ALGORITHM, typ: ACCESS_TOKEN_TYPE, kid: keys.current(0).kid, ...overrides }) as Header;

  /** The claims our issuer writes, valid now; `omit` drops claims, `overrides` replaces them. */
  const claims = (overrides: Claims = {}, omit: readonly string[] = []): Claims => {
    const all: Claims = {
      sid: 'session-1',
      roles: ['USER'],
      sub: 'user-1',
      jti: 'token-1',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: nowSeconds(),
      exp: nowSeconds() + TTL_SECONDS,
      ...overrides,
    };
    for (const name of omit) delete all[name];
    return all;
  };

  /** Signs any header and payload with jose; by default with the gateway's own secret. */
  const sign = (tokenHeader: Header, payload: unknown, key: SigningKeyLike = secretBytes): Promise<string> =>
    new CompactSign(encoder.encode(typeof payload === 'string' ? payload : JSON.stringify(payload))).setProtectedHeader(tokenHeader).sign(key);

  /** A compact JWS built by hand, for headers jose refuses to produce; signature is HMAC-SHA256 by default. */
  const handMade = (tokenHeader: Record<string, unknown>, payload: unknown, signature: 'hmac' | 'empty' = 'hmac', key: Uint8Array = secretBytes): string => {
    const input = `${encodeJson(tokenHeader)}.${encodeJson(payload)}`;
    return `${input}.${signature === 'empty' ? '' : createHmac('sha256', key).update(input).digest('base64url')}`;
  };

  const issue = (subject: { notAfter?: number } = {}) => tokens.issue({ userId: 'user-1', sessionId: 'session-1', roles: ['USER'], ...subject });
  const verifyAt = (token: string, atMs: number): Promise<AccessTokenVerification> => {
    clock = atMs;
    return tokens.verify(token);
  };

  /** Replaces the character at `index` (negative counts from the end) with another base64url character. */
  const changeCharAt = (text: string, index: number): string => {
    const at = index < 0 ? text.length + index : index;
    const replacement = text[at] === 'A' ? 'B' : 'A';
    return text.slice(0, at) + replacement + text.slice(at + 1);
  };

  describe('genuine tokens', () => {
    it('round-trips a freshly issued token with its claims', async () => {
      const issued = await tokens.issue({ userId: 'user-42', sessionId: 'session-7', roles: ['USER', 'ADMIN'] });
      expect(issued.claims).toMatchObject({
        userId: 'user-42',
        sessionId: 'session-7',
        roles: ['USER', 'ADMIN'],
        issuedAt: nowSeconds(),
        expiresAt: nowSeconds() + TTL_SECONDS,
      });
      expect(issued.claims.tokenId).toMatch(/^[A-Za-z0-9_-]{22}$/);

      const verified = await tokens.verify(issued.token);
      expect(verified).toEqual({ ok: true, claims: issued.claims });
    });

    it('writes the pinned algorithm, the at+jwt type and the ring kid into the header', async () => {
      const { token } = await issue();
      expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'at+jwt', kid: keys.current(0).kid });
      expect(decodeJwt(token)).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', sid: 'session-1', roles: ['USER'] });
    });

    it('gives every token its own jti', async () => {
      const first = await issue();
      const second = await issue();
      expect(first.claims.tokenId).not.toBe(second.claims.tokenId);
    });

    // The control for every forged token below: the forging helpers, unchanged, produce an accepted token, so
    // each attack fails because of the one thing it changes.
    it('accepts a token hand-built with the right header, claims and key (control for the attacks below)', async () => {
      const viaJose = await sign(header(), claims());
      const viaHmac = handMade(header(), claims());
      for (const token of [viaJose, viaHmac]) {
        expect(await tokens.verify(token)).toEqual({
          ok: true,
          claims: { userId: 'user-1', sessionId: 'session-1', tokenId: 'token-1', roles: ['USER'], generation: 0, issuedAt: nowSeconds(), expiresAt: nowSeconds() + TTL_SECONDS, amr: [], authTime: 0 },
        });
      }
    });

    it('accepts a token from another key ring built from the same secret, with the same kid', async () => {
      const secret = new Secret(randomBytes(32));
      const first = await createHmacKeyRing(secret);
      const second = await createHmacKeyRing(secret);
      expect(second.current(0).kid).toBe(first.current(0).kid);
      const options = { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, clockToleranceSeconds: TOLERANCE_SECONDS, now: () => clock, cacheSize: 0 };
      const { token } = await createAccessTokens({ ...options, keys: first }).issue({ userId: 'u', sessionId: 's', roles: [] });
      expect((await createAccessTokens({ ...options, keys: second }).verify(token)).ok).toBe(true);
    });

    it('leaves the secret it was built from intact, so a second ring is not an all-zero key', async () => {
      const original = randomBytes(32);
      const secret = new Secret(original);
      const expected = Buffer.from(original);
      await createHmacKeyRing(secret);
      expect(Buffer.from(secret.bytes()).equals(expected)).toBe(true);
      expect(original.equals(expected)).toBe(true);

      // A forger who knows nothing signs with 32 zero bytes; a ring rebuilt from the same secret must refuse that.
      const rebuilt = await createHmacKeyRing(secret);
      const verifier = createAccessTokens({ keys: rebuilt, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, clockToleranceSeconds: TOLERANCE_SECONDS, now: () => clock, cacheSize: 0 });
      const zeroKeyForgery = await sign(header({ kid: rebuilt.current(0).kid }), claims({ roles: ['ADMIN'] }), new Uint8Array(32));
      expect(await verifier.verify(zeroKeyForgery)).toEqual(INVALID);
    });
  });

  describe('lifetime', () => {
    it('caps the expiry at notAfter when the session ends before iat + ttl', async () => {
      const notAfter = nowSeconds() + 60;
      const issued = await issue({ notAfter });
      expect(issued.claims.expiresAt).toBe(notAfter);
      expect(decodeJwt(issued.token).exp).toBe(notAfter);
    });

    it('keeps iat + ttl when notAfter is later', async () => {
      const issued = await issue({ notAfter: nowSeconds() + TTL_SECONDS * 10 });
      expect(issued.claims.expiresAt).toBe(nowSeconds() + TTL_SECONDS);
    });

    it('refuses a notAfter-capped token once notAfter has passed, long before iat + ttl', async () => {
      const notAfter = nowSeconds() + 60;
      const { token } = await issue({ notAfter });
      expect(await verifyAt(token, (notAfter + TOLERANCE_SECONDS) * 1000)).toEqual(EXPIRED);
    });

    it('reports TOKEN_EXPIRED for a genuine token past exp plus the clock tolerance', async () => {
      const { token, claims: issued } = await issue();
      expect(await verifyAt(token, (issued.expiresAt + TOLERANCE_SECONDS) * 1000)).toEqual(EXPIRED);
      expect(await verifyAt(token, START_MS + 86_400_000)).toEqual(EXPIRED);
    });

    it('accepts a token that is expired but still within the clock tolerance', async () => {
      const { token, claims: issued } = await issue();
      expect((await verifyAt(token, (issued.expiresAt + TOLERANCE_SECONDS - 1) * 1000)).ok).toBe(true);
    });

    it('rejects a token whose nbf is in the future beyond the clock tolerance', async () => {
      const token = await sign(header(), claims({ nbf: nowSeconds() + TOLERANCE_SECONDS + 1 }));
      expect(await tokens.verify(token)).toEqual(INVALID);
    });

    it('accepts a token whose nbf is in the future but within the clock tolerance', async () => {
      const token = await sign(header(), claims({ nbf: nowSeconds() + TOLERANCE_SECONDS }));
      expect((await tokens.verify(token)).ok).toBe(true);
    });

    it('reports an expired token signed with another secret as TOKEN_INVALID, not TOKEN_EXPIRED', async () => {
      const expired = claims({ iat: nowSeconds() - 2 * TTL_SECONDS, exp: nowSeconds() - TTL_SECONDS });
      expect(await tokens.verify(await sign(header(), expired))).toEqual(EXPIRED);
      expect(await tokens.verify(await sign(header(), expired, randomBytes(32)))).toEqual(INVALID);
    });

    it('reports an expired token with a tampered payload as TOKEN_INVALID, not TOKEN_EXPIRED', async () => {
      const { token, claims: issued } = await issue();
      const [head, , signature] = token.split('.');
      const payload = { ...decodeJwt(token), roles: ['ADMIN'] };
      const tampered = `${head}.${encodeJson(payload)}.${signature}`;
      expect(await verifyAt(tampered, (issued.expiresAt + TOLERANCE_SECONDS + 60) * 1000)).toEqual(INVALID);
    });
  });

  describe('signature', () => {
    it('rejects a token issued by a key ring with another secret', async () => {
      const otherRing = await createHmacKeyRing(new Secret(randomBytes(32)));
      const forger = createAccessTokens({ keys: otherRing, issuer: ISSUER, audience: AUDIENCE, ttlSeconds: TTL_SECONDS, clockToleranceSeconds: TOLERANCE_SECONDS, now: () => clock, cacheSize: 0 });
      const { token } = await forger.issue({ userId: 'user-1', sessionId: 'session-1', roles: ['ADMIN'] });
      expect(await tokens.verify(token)).toEqual(INVALID);
    });

    it('rejects a token signed with another secret that carries our kid', async () => {
      const forged = await new SignJWT({ sid: 'session-1', roles: ['ADMIN'] })
        .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE, kid: keys.current(0).kid })
        .setSubject('user-1')
        .setJti('token-1')
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(nowSeconds())
        .setExpirationTime(nowSeconds() + TTL_SECONDS)
        .sign(randomBytes(32));
      expect(await tokens.verify(forged)).toEqual(INVALID);
    });

    it('rejects a token whose payload has one character changed', async () => {
      const { token } = await issue();
      const [head, payload, signature] = token.split('.') as [string, string, string];
      expect(await tokens.verify(`${head}.${changeCharAt(payload, 10)}.${signature}`)).toEqual(INVALID);
    });

    it('rejects a payload re-encoded with roles ["ADMIN"] that keeps the original signature', async () => {
      const { token } = await issue();
      const [head, , signature] = token.split('.');
      const escalated = `${head}.${encodeJson({ ...decodeJwt(token), roles: ['ADMIN'] })}.${signature}`;
      expect(decodeJwt(escalated).roles).toEqual(['ADMIN']);
      expect(await tokens.verify(escalated)).toEqual(INVALID);
    });

    it('rejects a token whose header has one character changed', async () => {
      const { token } = await issue();
      const [head, payload, signature] = token.split('.') as [string, string, string];
      expect(await tokens.verify(`${changeCharAt(head, 5)}.${payload}.${signature}`)).toEqual(INVALID);
    });

    it('rejects a token whose signature has one character changed', async () => {
      const { token } = await issue();
      const [head, payload, signature] = token.split('.') as [string, string, string];
      expect(await tokens.verify(`${head}.${payload}.${changeCharAt(signature, 5)}`)).toEqual(INVALID);
    });

    it('rejects a token carrying the signature of another genuine token', async () => {
      const first = await issue();
      const second = await issue();
      const [head, payload] = first.token.split('.');
      const signature = second.token.split('.')[2];
      expect(await tokens.verify(`${head}.${payload}.${signature}`)).toEqual(INVALID);
    });

    it('rejects a token whose signature is stripped (trailing dot) or cut off (two parts)', async () => {
      const { token } = await issue();
      const [head, payload] = token.split('.');
      expect(await tokens.verify(`${head}.${payload}.`)).toEqual(INVALID);
      expect(await tokens.verify(`${head}.${payload}`)).toEqual(INVALID);
    });
  });

  describe('algorithm', () => {
    it.each(['none', 'None', 'NONE', 'nOnE'])('rejects a token whose alg header is "%s" with an empty signature', async (alg) => {
      expect(await tokens.verify(handMade(header({ alg }), claims({ roles: ['ADMIN'] }), 'empty'))).toEqual(INVALID);
    });

    it.each(['none', 'None', 'NONE', 'nOnE'])('rejects a token whose alg header is "%s" even with a valid HMAC over it', async (alg) => {
      expect(await tokens.verify(handMade(header({ alg }), claims()))).toEqual(INVALID);
    });

    it.each(['HS384', 'HS512'])('rejects a token signed %s with the same secret bytes', async (alg) => {
      expect(await tokens.verify(await sign(header({ alg }), claims()))).toEqual(INVALID);
    });

    it('rejects a token whose alg header is "hs256" in lower case over a valid HMAC-SHA256', async () => {
      expect(await tokens.verify(handMade(header({ alg: 'hs256' }), claims()))).toEqual(INVALID);
    });

    it.each(['RS256', 'ES256'] as const)('rejects a token genuinely signed %s by an attacker key under our kid', async (alg) => {
      const { privateKey } = await generateKeyPair(alg);
      expect(await tokens.verify(await sign(header({ alg }), claims(), privateKey))).toEqual(INVALID);
    });

    it.each(['RS256', 'ES256'])('rejects a token whose alg header is %s over an HMAC-SHA256 made with our secret', async (alg) => {
      expect(await tokens.verify(handMade(header({ alg }), claims()))).toEqual(INVALID);
    });
  });

  describe('header', () => {
    it.each([
      ['JWT', { typ: 'JWT' }],
      ['missing', { typ: undefined }],
      ['rt+jwt', { typ: 'rt+jwt' }],
      ['application/jwt', { typ: 'application/jwt' }],
    ])('rejects a token whose typ is %s, signed with our key', async (_name, overrides) => {
      const tokenHeader = header(overrides);
      if (tokenHeader.typ === undefined) delete tokenHeader.typ;
      expect(await tokens.verify(await sign(tokenHeader, claims()))).toEqual(INVALID);
    });

    it.each([
      ['unknown', 'AAAAAAAAAAAAAAAA'],
      ['a path', '../../etc/passwd'],
      ['SQL', "' OR 1=1 --"],
      ['a shell command', '$(rm -rf /)'],
      ['empty', ''],
      ['a number', 0],
      ['an object', { $ne: null }],
    ])('rejects a token whose kid is %s, signed with our key', async (_name, kid) => {
      expect(await tokens.verify(await sign(header({ kid }), claims()))).toEqual(INVALID);
    });

    it('rejects a token without a kid, signed with our key', async () => {
      const tokenHeader = header();
      delete tokenHeader.kid;
      expect(await tokens.verify(await sign(tokenHeader, claims()))).toEqual(INVALID);
    });

    it('rejects a token with the kid of another key ring, signed with our key', async () => {
      const other = await createHmacKeyRing(new Secret(randomBytes(32)));
      expect(await tokens.verify(await sign(header({ kid: other.current(0).kid }), claims()))).toEqual(INVALID);
    });

    it.each([
      ['jku', { jku: 'https://attacker.example/.well-known/jwks.json' }],
      ['x5u', { x5u: 'https://attacker.example/cert.pem' }],
    ])('rejects a token whose %s header points elsewhere and is signed with another key', async (_name, extra) => {
      expect(await tokens.verify(await sign(header(extra), claims({ roles: ['ADMIN'] }), randomBytes(32)))).toEqual(INVALID);
    });

    it('rejects a token with an embedded symmetric jwk holding the key it was signed with', async () => {
      const attackerKey = randomBytes(32);
      const jwk = { kty: 'oct', k: base64url.encode(attackerKey) };
      expect(await tokens.verify(await sign(header({ jwk }), claims({ roles: ['ADMIN'] }), attackerKey))).toEqual(INVALID);
    });

    it('rejects an RS256 token with an embedded public jwk and jku of the key it was signed with', async () => {
      const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
      const tokenHeader = header({ alg: 'RS256', jwk: await exportJWK(publicKey), jku: 'https://attacker.example/jwks.json' });
      expect(await tokens.verify(await sign(tokenHeader, claims({ roles: ['ADMIN'] }), privateKey))).toEqual(INVALID);
    });

    it('rejects a token with an unknown critical header, signed with our key', async () => {
      expect(await tokens.verify(handMade(header({ crit: ['exp-policy'], 'exp-policy': 'never' }), claims()))).toEqual(INVALID);
    });
  });

  describe('issuer and audience', () => {
    it('rejects a token from another issuer, signed with our key', async () => {
      expect(await tokens.verify(await sign(header(), claims({ iss: 'https://evil.example' })))).toEqual(INVALID);
    });

    it('rejects a token for another audience, signed with our key', async () => {
      expect(await tokens.verify(await sign(header(), claims({ aud: 'another-api' })))).toEqual(INVALID);
    });

    it('rejects a token whose audience list does not contain ours, signed with our key', async () => {
      expect(await tokens.verify(await sign(header(), claims({ aud: ['another-api', 'third-api'] })))).toEqual(INVALID);
    });
  });

  describe('claims', () => {
    it.each(['sub', 'sid', 'jti', 'exp', 'iat', 'iss', 'aud', 'roles'])('rejects a token without the %s claim, signed with our key', async (name) => {
      expect(await tokens.verify(await sign(header(), claims({}, [name])))).toEqual(INVALID);
    });

    it.each([
      ['sub as a number', { sub: 42 }],
      ['sub as an empty string', { sub: '' }],
      ['sid as a number', { sid: 7 }],
      ['jti as null', { jti: null }],
      ['roles as a string', { roles: 'ADMIN' }],
      ['roles containing a number', { roles: ['USER', 1] }],
      ['roles as an object', { roles: { 0: 'ADMIN' } }],
      ['more than 32 roles', { roles: Array.from({ length: 33 }, (_, index) => `R${index}`) }],
      ['exp as a string', { exp: '99999999999' }],
      ['iat as a string', { iat: '0' }],
    ])('rejects a token with %s, signed with our key', async (_name, overrides) => {
      expect(await tokens.verify(await sign(header(), claims(overrides)))).toEqual(INVALID);
    });

    it.each([
      ['a JSON array', '["sub","user-1"]'],
      ['a JSON string', '"user-1"'],
      ['not JSON', 'sub=user-1'],
    ])('rejects a payload that is %s, signed with our key', async (_name, payload) => {
      expect(await tokens.verify(await sign(header(), payload))).toEqual(INVALID);
    });
  });

  describe('readExpiredClaims (for logout only)', () => {
    const expiredAt = (): number => (nowSeconds() + TTL_SECONDS + TOLERANCE_SECONDS + 1) * 1000;

    it('reads the claims of a genuine token once it has expired', async () => {
      const issued = await tokens.issue({ userId: 'user-1', sessionId: 'session-1', roles: ['USER'], generation: 3 });
      clock = expiredAt();
      expect(await tokens.readExpiredClaims(issued.token)).toEqual(issued.claims);
    });

    it('reads nothing from a live token: it is no way around verify', async () => {
      const { token } = await issue();
      expect(await tokens.readExpiredClaims(token)).toBeUndefined();
    });

    it.each([
      ['with a changed signature', async () => changeCharAt(await sign(header(), claims()), -2)],
      ['signed with another key', async () => sign(header(), claims(), randomBytes(32))],
      ['for another audience', async () => sign(header(), claims({ aud: 'someone-else' }))],
      ['of another type', async () => sign(header({ typ: 'JWT' }), claims())],
      ['with a malformed generation', async () => sign(header(), claims({ gen: -1 }))],
    ])('reads nothing from an expired token %s', async (_name, make) => {
      const token = await make();
      clock = expiredAt();
      expect(await tokens.readExpiredClaims(token)).toBeUndefined();
    });
  });

  describe('malformed input', () => {
    it.each([
      ['empty', ''],
      ['one word', 'abc'],
      ['two parts', 'a.b'],
      ['three junk parts', 'a.b.c'],
      ['four parts', 'a.b.c.d'],
      ['only dots', '..'],
      ['standard base64 characters', 'ab+c.de/f.gh=='],
      ['non-ASCII letters', 'héllo.wörld.sïg'],
      ['a JSON object', '{"alg":"none"}'],
    ])('rejects a garbage string (%s)', async (_name, garbage) => {
      expect(await tokens.verify(garbage)).toEqual(INVALID);
    });

    it.each([
      ['a leading space', (token: string) => ` ${token}`],
      ['a trailing space', (token: string) => `${token} `],
      ['a trailing newline', (token: string) => `${token}\n`],
      ['a leading tab', (token: string) => `\t${token}`],
      ['a "Bearer " prefix', (token: string) => `Bearer ${token}`],
      ['a fourth part', (token: string) => `${token}.${token.split('.')[2]}`],
      ['base64 padding on the signature', (token: string) => `${token}=`],
    ])('rejects a genuine token with %s', async (_name, wrap) => {
      const { token } = await issue();
      expect((await tokens.verify(token)).ok).toBe(true);
      expect(await tokens.verify(wrap(token))).toEqual(INVALID);
    });

    it(`rejects a genuinely signed token longer than MAX_ACCESS_TOKEN_LENGTH (${MAX_ACCESS_TOKEN_LENGTH})`, async () => {
      const justUnder = await sign(header(), claims({ pad: 'x'.repeat(2000) }));
      expect(justUnder.length).toBeLessThanOrEqual(MAX_ACCESS_TOKEN_LENGTH);
      expect((await tokens.verify(justUnder)).ok).toBe(true);

      const oversized = await sign(header(), claims({ pad: 'x'.repeat(MAX_ACCESS_TOKEN_LENGTH) }));
      expect(oversized.length).toBeGreaterThan(MAX_ACCESS_TOKEN_LENGTH);
      expect(await tokens.verify(oversized)).toEqual(INVALID);
    });

    it('rejects a very large garbage string without throwing', async () => {
      expect(await tokens.verify(`${'a'.repeat(1_000_000)}.b.c`)).toEqual(INVALID);
    });

    it('rejects a refresh token presented as an access token', async () => {
      const refreshToken = generateRefreshToken();
      expect(isWellFormedRefreshToken(refreshToken)).toBe(true);
      expect(await tokens.verify(refreshToken)).toEqual(INVALID);
    });

    it('issues access tokens that can never pass as refresh tokens', async () => {
      const { token } = await issue();
      expect(isWellFormedRefreshToken(token)).toBe(false);
    });
  });
});

describe('the verified-token cache', () => {
  const options = (cacheSize: number, now: () => number): Parameters<typeof createAccessTokens>[0] => ({
    keys: ring,
    issuer: ISSUER,
    audience: AUDIENCE,
    ttlSeconds: TTL_SECONDS,
    clockToleranceSeconds: TOLERANCE_SECONDS,
    now,
    cacheSize,
  });
  let ring: KeyRing;
  beforeAll(async () => {
    ring = await createHmacKeyRing(new Secret(randomBytes(32)));
  });

  it('answers a second verification of the same token from the cache', async () => {
    const tokens = createAccessTokens(options(10, () => START_MS));
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's', roles: [] });
    expect((await tokens.verify(token)).ok).toBe(true);
    expect((await tokens.verify(token)).ok).toBe(true);
    expect(tokens.cacheStats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  it('still expires a cached token when the clock passes exp plus the tolerance', async () => {
    let clock = START_MS;
    const tokens = createAccessTokens(options(10, () => clock));
    const { token, claims } = await tokens.issue({ userId: 'u', sessionId: 's', roles: [] });
    expect((await tokens.verify(token)).ok).toBe(true);
    clock = (claims.expiresAt + TOLERANCE_SECONDS - 1) * 1000;
    expect((await tokens.verify(token)).ok).toBe(true);
    clock = (claims.expiresAt + TOLERANCE_SECONDS) * 1000;
    expect(await tokens.verify(token)).toEqual(EXPIRED);
    expect(tokens.cacheStats().size).toBe(0);
  });

  it('refuses a one-character variant of a cached token', async () => {
    const tokens = createAccessTokens(options(10, () => START_MS));
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's', roles: [] });
    await tokens.verify(token);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    expect(await tokens.verify(`${token.slice(0, -2)}${last}${token.at(-1)}`)).toEqual(INVALID);
  });

  it('never stores a refused token, so garbage cannot evict genuine entries', async () => {
    const tokens = createAccessTokens(options(2, () => START_MS));
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's', roles: [] });
    await tokens.verify(token);
    for (let i = 0; i < 20; i++) await tokens.verify(`${token.slice(0, -4)}${i.toString().padStart(4, 'x')}`);
    expect(tokens.cacheStats().size).toBe(1);
    await tokens.verify(token);
    expect(tokens.cacheStats().hits).toBe(1);
  });

  it('holds at most cacheSize entries', async () => {
    const tokens = createAccessTokens(options(3, () => START_MS));
    for (let i = 0; i < 10; i++) await tokens.verify((await tokens.issue({ userId: `u${i}`, sessionId: 's', roles: [] })).token);
    expect(tokens.cacheStats().size).toBe(3);
  });

  it('verifies every time with a cache size of 0', async () => {
    const tokens = createAccessTokens(options(0, () => START_MS));
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's', roles: [] });
    await tokens.verify(token);
    await tokens.verify(token);
    expect(tokens.cacheStats()).toMatchObject({ hits: 0, misses: 2, size: 0 });
  });
});
