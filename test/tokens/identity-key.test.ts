/**
 * HS256 identity keys (issue 16, item 6): the key an upstream holds is derived from JWT_SECRET and its name, signs
 * its identity tokens only, and is refused by the gateway's own access-token verifier whatever the token says.
 */
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { TokenRejection } from '../../src/errors.js';
import { ACCESS_TOKEN_TYPE, createAccessTokens, type AccessTokens } from '../../src/tokens/access-token.js';
import { createIdentityKey, deriveIdentitySecret } from '../../src/tokens/identity-key.js';
import { createIdentityTokens } from '../../src/tokens/identity-token.js';
import { createHmacKey, createKeyRing, generateSigningKey, importHmacKey, importSigningKey, type SigningKey } from '../../src/tokens/keys.js';

const ISSUER = 'portcullis';
const AUDIENCE = 'portcullis';
const NOW_MS = Date.UTC(2030, 0, 15, 12, 0, 0);
const SUBJECT = { userId: 'user-1', sessionId: 'session-1', roles: ['USER'], notAfter: NOW_MS / 1000 + 900 };

function accessTokensOver(key: SigningKey): AccessTokens {
  return createAccessTokens({ keys: createKeyRing([key]), issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 900, clockToleranceSeconds: 5, now: () => NOW_MS, cacheSize: 100 });
}

/** An access token of the gateway's exact shape, for an ADMIN, signed with `key` under `kid`. */
function forgedAccessToken(key: SigningKey, kid: string): Promise<string> {
  const iat = NOW_MS / 1000;
  return new SignJWT({ sid: 'session-1', roles: ['ADMIN'], gen: 0 })
    .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE, kid })
    .setSubject('user-1')
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 900)
    .sign(key.signKey!);
}

describe('HS256 identity keys', () => {
  let accessKey: SigningKey;
  let shopKey: SigningKey;

  beforeAll(async () => {
    accessKey = await createHmacKey(new Secret(randomBytes(32)));
    shopKey = await createIdentityKey(accessKey, 'shop');
  });

  it('derives one key per upstream, each with a kid of its own, none the access-token key', async () => {
    const billingKey = await createIdentityKey(accessKey, 'billing');
    const kids = new Set([accessKey.kid, shopKey.kid, billingKey.kid]);
    expect(kids.size).toBe(3);
    // Stable: the gateway and the CLI derive the same key from the same secret.
    expect((await createIdentityKey(accessKey, 'shop')).kid).toBe(shopKey.kid);
    // A derived key derives nothing further, and key pairs derive nothing: no fallback to the access-token key.
    expect(shopKey.derivation).toBeUndefined();
    await expect(deriveIdentitySecret(shopKey, 'shop')).rejects.toThrow(/derives no identity keys/);
  });

  it('refuses an access token signed with an upstream’s key, under its own kid or the access key’s', async () => {
    const tokens = accessTokensOver(accessKey);
    // The same forgery with the access-token key passes: the shape is right, so only the key differs below.
    expect((await tokens.verify(await forgedAccessToken(accessKey, accessKey.kid))).ok).toBe(true);
    for (const kid of [shopKey.kid, accessKey.kid]) {
      expect(await tokens.verify(await forgedAccessToken(shopKey, kid))).toEqual({ ok: false, reason: TokenRejection.TOKEN_INVALID });
    }
  });

  it('signs each upstream’s identity tokens with its derived key, which verifies them and nothing else does', async () => {
    const identity = createIdentityTokens({ keys: createKeyRing([accessKey]), issuer: ISSUER, now: () => NOW_MS });
    const { token } = await identity.issue(SUBJECT, 'shop');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256', kid: shopKey.kid, typ: 'identity+jwt' });
    const options = { issuer: ISSUER, audience: 'shop', currentDate: new Date(NOW_MS) };
    await expect(jwtVerify(token, shopKey.verifyKey, options)).resolves.toBeDefined();
    await expect(jwtVerify(token, accessKey.verifyKey, options)).rejects.toThrow();
    await expect(jwtVerify(token, (await createIdentityKey(accessKey, 'billing')).verifyKey, options)).rejects.toThrow();
  });

  it('follows the ring: after JWT_SECRET changes, tokens carry the new secret’s derived key', async () => {
    const ring = createKeyRing([accessKey]);
    const identity = createIdentityTokens({ keys: ring, issuer: ISSUER, now: () => NOW_MS });
    const next = await createHmacKey(new Secret(randomBytes(32)));
    ring.replace([next]);
    const { token } = await identity.issue(SUBJECT, 'shop');
    expect(decodeProtectedHeader(token).kid).toBe((await createIdentityKey(next, 'shop')).kid);
    expect(decodeProtectedHeader(token).kid).not.toBe(shopKey.kid);
  });

  it('refuses to sign identity tokens with an HS256 key that derives nothing, rather than with the key itself', async () => {
    const plain = await importHmacKey(new Secret(randomBytes(32)));
    const identity = createIdentityTokens({ keys: createKeyRing([plain]), issuer: ISSUER, now: () => NOW_MS });
    await expect(identity.issue(SUBJECT, 'shop')).rejects.toThrow(/derives no identity keys/);
  });

  it('leaves key pairs as they are: identity tokens are signed by the ring’s own key pair', async () => {
    const { kid, publicJwk, privateJwk } = await generateSigningKey('EdDSA');
    const pair = await importSigningKey({ kid, alg: 'EdDSA', publicJwk, privateJwk, publishedAt: 0, activatesAt: 0, retiresAt: null });
    const identity = createIdentityTokens({ keys: createKeyRing([pair]), issuer: ISSUER, now: () => NOW_MS });
    const { token } = await identity.issue(SUBJECT, 'shop');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid });
    await expect(jwtVerify(token, pair.verifyKey, { issuer: ISSUER, audience: 'shop', currentDate: new Date(NOW_MS) })).resolves.toBeDefined();
  });
});
