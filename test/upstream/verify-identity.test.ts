/**
 * The published verifier (`portcullis/upstream`) against real gateways: an HS256 one (the verifier holds the
 * identity key the gateway derives for it, as `npm run identity:key` prints it) and an EdDSA one (the verifier fetches its JWKS over HTTP). Identity tokens are minted here in the
 * exact format of issue 11 with the gateway's own keys; every refusal is asserted on its code.
 */
import { createHmac, randomBytes, type webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecret, type Secret } from '../../src/config/secret.js';
import { TokenRejection } from '../../src/errors.js';
import { createHmacKey } from '../../src/tokens/keys.js';
import { IdentityErrorCode, verifyIdentity, type Identity, type VerifyIdentityOptions } from '../../src/upstream/index.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { expectRefused, fetchJwks, keyConfig, login, PASSWORD, storedPrivateJwk } from '../keys/support.js';
import { close, countingJwksServer, hmacMintingKey, identityKeyOf, listen, mintIdentityToken, mintingKeyFromJwk, refusalCode, type MintingKey } from './support.js';

const ADA = 'ada@example.com';

function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

function secretOf(text: string): Secret {
  const parsed = parseSecret(text);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.secret;
}

/** An HS256 identity token MACed by hand, for headers jose's SignJWT would not write (alg none, odd typ). */
function handMadeToken(header: Record<string, unknown>, claims: Record<string, unknown>, key: Uint8Array | string | undefined): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(claims)}`;
  return key === undefined ? `${input}.` : `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

describe('verifyIdentity() with the HS256 identity key of a real gateway', () => {
  const secret = randomSecret();
  let identityKey: string;
  let gateway: TestGateway;
  let signing: MintingKey;
  let options: VerifyIdentityOptions;
  let userId: string;
  let accessToken: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret }) });
    const created = await gateway.createUser({ email: ADA, password: PASSWORD });
    userId = created.id;
    accessToken = (await login(gateway, ADA)).accessToken;
    identityKey = await identityKeyOf(secret, 'shop');
    signing = await hmacMintingKey(identityKey);
    options = { gateway: { secret: identityKey }, audience: 'shop' };
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('returns the identity of a well-formed identity token', async () => {
    const nowMs = Date.now();
    const token = await mintIdentityToken(signing, { userId, sessionId: 'sid-1', roles: ['USER', 'ADMIN'], jti: 'jti-1', nowMs });
    const identity = await verifyIdentity(bearer(token), options);
    expect(identity).toEqual<Identity>({
      userId,
      sessionId: 'sid-1',
      roles: ['USER', 'ADMIN'],
      tokenId: 'jti-1',
      expiresAt: new Date((Math.floor(nowMs / 1000) + 60) * 1000),
      amr: [],
      authTime: null,
    });
  });

  it('reports how the session signed in (amr, auth_time), and refuses malformed ones instead of reading them as none', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const token = await mintIdentityToken(signing, { userId, amr: ['pwd', 'otp', 'mfa'], authTime: iat - 30 });
    const identity = await verifyIdentity(bearer(token), options);
    expect(identity?.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(identity?.authTime).toEqual(new Date((iat - 30) * 1000));
    const malformed = [
      await mintIdentityToken(signing, { userId, amr: 'mfa' }),
      await mintIdentityToken(signing, { userId, amr: [1] }),
      await mintIdentityToken(signing, { userId, authTime: 'yesterday' }),
      await mintIdentityToken(signing, { userId, authTime: iat + 3600 }),
    ];
    for (const bad of malformed) expect(await refusalCode(verifyIdentity(bearer(bad), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('reads a Fetch Request, Fetch Headers, a plain object in any case, and the secret as bytes', async () => {
    const token = await mintIdentityToken(signing, { userId });
    const request = new Request('http://upstream.test/graphql', { method: 'POST', headers: bearer(token) });
    expect((await verifyIdentity(request, options))?.userId).toBe(userId);
    expect((await verifyIdentity(new Headers(bearer(token)), options))?.userId).toBe(userId);
    expect((await verifyIdentity({ Authorization: `Bearer ${token}` }, options))?.userId).toBe(userId);
    expect((await verifyIdentity(bearer(token), { ...options, gateway: { secret: secretOf(identityKey).bytes() } }))?.userId).toBe(userId);
  });

  it('reads a Node IncomingMessage in a plain node:http server', async () => {
    const token = await mintIdentityToken(signing, { userId, roles: ['USER'] });
    const server: Server = createServer((req, res) => {
      verifyIdentity(req, options).then(
        (identity) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ userId: identity?.userId ?? null })),
        (error: { code?: string }) => res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: error.code })),
      );
    });
    try {
      const url = await listen(server);
      const signedIn = await fetch(url, { headers: bearer(token) });
      expect(await signedIn.json()).toEqual({ userId });
      const guest = await fetch(url);
      expect(await guest.json()).toEqual({ userId: null });
      const forged = await fetch(url, { headers: bearer(`${token.slice(0, -4)}AAAA`) });
      expect(forged.status).toBe(401);
      expect(await forged.json()).toEqual({ code: IdentityErrorCode.IDENTITY_INVALID });
    } finally {
      await close(server);
    }
  });

  it('returns null for a guest (no Authorization header) in every request shape', async () => {
    expect(await verifyIdentity({}, options)).toBeNull();
    expect(await verifyIdentity({ cookie: 'a=b' }, options)).toBeNull();
    expect(await verifyIdentity(new Request('http://upstream.test/'), options)).toBeNull();
    expect(await verifyIdentity(new Headers(), options)).toBeNull();
  });

  it('refuses an Authorization header that is not one Bearer token instead of treating the caller as a guest', async () => {
    const token = await mintIdentityToken(signing, { userId });
    for (const authorization of ['', 'Bearer', `Basic ${token}`, `Bearer ${token} extra`, `Bearer ${'a'.repeat(5000)}.b.c`]) {
      expect(await refusalCode(verifyIdentity({ authorization }, options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    }
    expect(await refusalCode(verifyIdentity({ authorization: [`Bearer ${token}`, `Bearer ${token}`] }, options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses a forged signature: another secret under the live kid, or a tampered payload', async () => {
    const other = await createHmacKey(secretOf(randomSecret()));
    const forged = await mintIdentityToken({ ...signing, key: other.signKey as webcrypto.CryptoKey }, { userId });
    expect(await refusalCode(verifyIdentity(bearer(forged), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);

    const genuine = await mintIdentityToken(signing, { userId, roles: ['USER'] });
    const [header, , signature] = genuine.split('.');
    const claims = JSON.parse(Buffer.from(genuine.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const elevated = Buffer.from(JSON.stringify({ ...claims, roles: ['ADMIN'] })).toString('base64url');
    expect(await refusalCode(verifyIdentity(bearer(`${header}.${elevated}.${signature}`), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses alg none and a kid other than the secret’s', async () => {
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: 'portcullis', aud: 'shop', sub: userId, sid: 's', roles: [], jti: 'j', iat, exp: iat + 60 };
    const none = handMadeToken({ alg: 'none', typ: 'identity+jwt', kid: signing.kid }, claims, undefined);
    expect(await refusalCode(verifyIdentity(bearer(none), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    const otherKid = await mintIdentityToken({ ...signing, kid: 'another-kid' }, { userId });
    expect(await refusalCode(verifyIdentity(bearer(otherKid), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses a token for another upstream, or for several', async () => {
    const billing = await mintIdentityToken(signing, { userId, audience: 'billing' });
    expect(await refusalCode(verifyIdentity(bearer(billing), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    // Accepted by the billing upstream, so the token itself is fine: only the audience differs.
    expect((await verifyIdentity(bearer(billing), { ...options, audience: 'billing' }))?.userId).toBe(userId);
    const both = await mintIdentityToken(signing, { userId, audience: ['shop', 'billing'] });
    expect(await refusalCode(verifyIdentity(bearer(both), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses a token it already accepted for one upstream and issuer when asked for another', async () => {
    // Accepted first, so it is remembered: the remembered answer must not carry over to another audience or issuer.
    const billing = await mintIdentityToken(signing, { userId, audience: 'billing' });
    expect((await verifyIdentity(bearer(billing), { ...options, audience: 'billing' }))?.userId).toBe(userId);
    expect(await refusalCode(verifyIdentity(bearer(billing), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    const foreign = await mintIdentityToken(signing, { userId, issuer: 'someone-else' });
    expect((await verifyIdentity(bearer(foreign), { ...options, issuer: 'someone-else' }))?.userId).toBe(userId);
    expect(await refusalCode(verifyIdentity(bearer(foreign), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses a second spelling of a token it already accepted (an unused trailing bit set)', async () => {
    const token = await mintIdentityToken(signing, { userId });
    expect((await verifyIdentity(bearer(token), options))?.userId).toBe(userId);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 32 bytes of HMAC are 43 characters: the last one carries 2 bits that decoders ignore.
    const variant = `${token.slice(0, -1)}${alphabet[alphabet.indexOf(token.at(-1) ?? 'A') ^ 1]}`;
    expect(Buffer.from(variant.split('.')[2]!, 'base64url').equals(Buffer.from(token.split('.')[2]!, 'base64url'))).toBe(true);
    expect(await refusalCode(verifyIdentity(bearer(variant), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses another issuer, and accepts the gateway’s when configured', async () => {
    const token = await mintIdentityToken(signing, { userId, issuer: 'someone-else' });
    expect(await refusalCode(verifyIdentity(bearer(token), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect((await verifyIdentity(bearer(token), { ...options, issuer: 'someone-else' }))?.userId).toBe(userId);
  });

  it('refuses the gateway’s own access token presented as an identity token', async () => {
    // typ at+jwt, aud the gateway's audience, and signed with JWT_SECRET's key: refused by its key, and by its type
    // even by a verifier wrongly given JWT_SECRET.
    expect(await refusalCode(verifyIdentity(bearer(accessToken), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect(await refusalCode(verifyIdentity(bearer(accessToken), { ...options, gateway: { secret } }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect(await refusalCode(verifyIdentity(bearer(accessToken), { ...options, audience: 'portcullis' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('is refused by the gateway when presented as an access token', async () => {
    // Even with the gateway's audience and a live session's claims: typ identity+jwt never passes as at+jwt.
    const { accessToken: fresh } = await login(gateway, ADA);
    const claims = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString()) as { sid: string };
    for (const audience of ['portcullis', 'shop']) {
      const identity = await mintIdentityToken(signing, { userId, sessionId: claims.sid, audience, roles: ['USER'] });
      await expectRefused(gateway, identity, TokenRejection.TOKEN_INVALID);
    }
  });

  it('says IDENTITY_EXPIRED for a genuine token past its exp, beyond the clock tolerance', async () => {
    const token = await mintIdentityToken(signing, { userId, nowMs: Date.now() - 120_000 });
    expect(await refusalCode(verifyIdentity(bearer(token), options))).toBe(IdentityErrorCode.IDENTITY_EXPIRED);
    // The same token at the time it was issued (injected clock) is fine.
    expect((await verifyIdentity(bearer(token), { ...options, now: () => Date.now() - 100_000 }))?.userId).toBe(userId);
  });

  it('remembers a verified token only until its exp: the second look is a lookup, never a longer life', async () => {
    const token = await mintIdentityToken(signing, { userId });
    expect((await verifyIdentity(bearer(token), options))?.userId).toBe(userId);
    expect((await verifyIdentity(bearer(token), options))?.userId).toBe(userId);
    expect(await refusalCode(verifyIdentity(bearer(token), { ...options, now: () => Date.now() + 120_000 }))).toBe(IdentityErrorCode.IDENTITY_EXPIRED);
    // Remembered for this audience only.
    expect(await refusalCode(verifyIdentity(bearer(token), { ...options, audience: 'billing' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses a token that lives longer than 60 s even though it is signed, and accepts exactly 60 s', async () => {
    const long = await mintIdentityToken(signing, { userId, ttlSeconds: 61 });
    expect(await refusalCode(verifyIdentity(bearer(long), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    const day = await mintIdentityToken(signing, { userId, ttlSeconds: 86_400 });
    expect(await refusalCode(verifyIdentity(bearer(day), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect(await verifyIdentity(bearer(await mintIdentityToken(signing, { userId, ttlSeconds: 60 })), options)).not.toBeNull();
  });

  it('refuses a token dated in the future, which the 60 s bound alone would let live until then', async () => {
    const ahead = await mintIdentityToken(signing, { userId, nowMs: Date.now() + 365 * 86_400_000 });
    expect(await refusalCode(verifyIdentity(bearer(ahead), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses any typ but exactly identity+jwt', async () => {
    for (const typ of ['at+jwt', 'JWT', 'IDENTITY+JWT', 'application/identity+jwt', undefined]) {
      const token = await mintIdentityToken(signing, { userId, header: { typ } });
      expect(await refusalCode(verifyIdentity(bearer(token), options)), String(typ)).toBe(IdentityErrorCode.IDENTITY_INVALID);
    }
  });

  it('refuses a token without sid or jti, or with roles that are not a list of names', async () => {
    const tokens = [
      await mintIdentityToken(signing, { userId, sessionId: undefined }),
      await mintIdentityToken(signing, { userId, jti: undefined }),
      await mintIdentityToken(signing, { userId, roles: 'ADMIN' }),
      await mintIdentityToken(signing, { userId, roles: [1] }),
      await mintIdentityToken(signing, { userId, roles: undefined }),
    ];
    for (const token of tokens) expect(await refusalCode(verifyIdentity(bearer(token), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses an EdDSA token when it holds a secret (HS256 only)', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const token = await mintIdentityToken(await mintingKeyFromJwk(await exportJWK(privateKey), 'EdDSA', signing.kid), { userId });
    expect(await refusalCode(verifyIdentity(bearer(token), options))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('verifies with a list of identity keys while JWT_SECRET changes: each key its own tokens, by kid', async () => {
    const previousKey = await identityKeyOf(randomSecret(), 'shop');
    const previous = await hmacMintingKey(previousKey);
    const both = { ...options, gateway: { secret: [identityKey, previousKey] } };
    for (const key of [signing, previous]) {
      const token = await mintIdentityToken(key, { userId });
      expect((await verifyIdentity(bearer(token), both))?.userId).toBe(userId);
    }
    // Neither the old key alone accepts the new tokens, nor does a key outside the list pass under a listed kid.
    expect(await refusalCode(verifyIdentity(bearer(await mintIdentityToken(signing, { userId })), { ...options, gateway: { secret: [previousKey] } }))).toBe(
      IdentityErrorCode.IDENTITY_INVALID,
    );
    const stranger = await hmacMintingKey(await identityKeyOf(randomSecret(), 'shop'));
    expect(await refusalCode(verifyIdentity(bearer(await mintIdentityToken({ ...stranger, kid: previous.kid }, { userId })), both))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    await expect(verifyIdentity({}, { ...options, gateway: { secret: [] } })).rejects.toThrow(TypeError);
    await expect(verifyIdentity({}, { ...options, gateway: { secret: Array.from({ length: 5 }, () => identityKey) } })).rejects.toThrow(TypeError);
  });

  it('throws a TypeError for options that cannot work, before looking at the request', async () => {
    await expect(verifyIdentity({}, { gateway: { secret: 'secret' }, audience: 'shop' })).rejects.toThrow(TypeError);
    await expect(verifyIdentity({}, { gateway: { secret: randomBytes(16) }, audience: 'shop' })).rejects.toThrow(TypeError);
    await expect(verifyIdentity({}, { gateway: 'ftp://gateway.test', audience: 'shop' })).rejects.toThrow(TypeError);
    await expect(verifyIdentity({}, { gateway: { secret }, audience: '' })).rejects.toThrow(TypeError);
  });
});

describe('verifyIdentity() with the JWKS of a real EdDSA gateway', () => {
  let gateway: TestGateway;
  let signing: MintingKey;
  let accessToken: string;
  let userId: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: keyConfig() });
    userId = (await gateway.createUser({ email: ADA, password: PASSWORD })).id;
    accessToken = (await login(gateway, ADA)).accessToken;
    const [published] = (await fetchJwks(gateway)).keys;
    if (!published) throw new Error('the gateway published no key');
    signing = await mintingKeyFromJwk(await storedPrivateJwk(gateway, published.kid), 'EdDSA', published.kid);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('returns the identity of a token signed with the gateway’s published key', async () => {
    const token = await mintIdentityToken(signing, { userId, roles: ['USER'] });
    const identity = await verifyIdentity(bearer(token), { gateway: gateway.url, audience: 'shop' });
    expect(identity?.userId).toBe(userId);
    expect(identity?.roles).toEqual(['USER']);
    // A trailing slash names the same gateway.
    expect((await verifyIdentity(bearer(token), { gateway: `${gateway.url}/`, audience: 'shop' }))?.userId).toBe(userId);
  });

  it('refuses a token signed by another Ed25519 key under the live kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const forged = await mintIdentityToken(await mintingKeyFromJwk(await exportJWK(privateKey), 'EdDSA', signing.kid), { userId });
    expect(await refusalCode(verifyIdentity(bearer(forged), { gateway: gateway.url, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it('refuses HS256 tokens, including one MACed with the published public key', async () => {
    const published = (await fetchJwks(gateway)).keys.find((key) => key.kid === signing.kid)!;
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: 'portcullis', aud: 'shop', sub: userId, sid: 's', roles: [], jti: 'j', iat, exp: iat + 60 };
    for (const key of [randomBytes(32), JSON.stringify(published), Buffer.from(published.x!, 'base64url')]) {
      const token = handMadeToken({ alg: 'HS256', typ: 'identity+jwt', kid: signing.kid }, claims, key);
      expect(await refusalCode(verifyIdentity(bearer(token), { gateway: gateway.url, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    }
  });

  it('refuses the gateway’s EdDSA access token, and the gateway refuses an EdDSA identity token', async () => {
    expect(await refusalCode(verifyIdentity(bearer(accessToken), { gateway: gateway.url, audience: 'portcullis' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    const sid = (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
    const identity = await mintIdentityToken(signing, { userId, sessionId: sid, audience: 'portcullis' });
    await expectRefused(gateway, identity, TokenRejection.TOKEN_INVALID);
  });

  it('refuses an unknown kid, and says IDENTITY_EXPIRED for an expired genuine token', async () => {
    const unknown = await mintIdentityToken({ ...signing, kid: 'not-a-published-kid' }, { userId });
    expect(await refusalCode(verifyIdentity(bearer(unknown), { gateway: gateway.url, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    const expired = await mintIdentityToken(signing, { userId, nowMs: Date.now() - 120_000 });
    expect(await refusalCode(verifyIdentity(bearer(expired), { gateway: gateway.url, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_EXPIRED);
  });

  it('fetches the JWKS once per gateway URL, not once per request', async () => {
    const jwks = countingJwksServer(async () => JSON.stringify({ keys: (await fetchJwks(gateway)).keys }));
    try {
      const url = await listen(jwks.server);
      for (let i = 0; i < 5; i++) {
        const token = await mintIdentityToken(signing, { userId });
        expect((await verifyIdentity(bearer(token), { gateway: url, audience: 'shop' }))?.userId).toBe(userId);
      }
      expect(jwks.hits()).toBe(1);
    } finally {
      await close(jwks.server);
    }
  });

  it('says IDENTITY_KEYS_UNAVAILABLE, not IDENTITY_INVALID, when the gateway cannot be reached', async () => {
    const down = createServer();
    const url = await listen(down);
    await close(down);
    const token = await mintIdentityToken(signing, { userId });
    expect(await refusalCode(verifyIdentity(bearer(token), { gateway: url, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_KEYS_UNAVAILABLE);
  });
});
