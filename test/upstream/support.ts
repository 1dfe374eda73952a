import { randomBytes, type webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { expect } from 'vitest';
import { parseSecret } from '../../src/config/secret.js';
import { printableIdentityKey } from '../../src/tokens/identity-key.js';
import { createHmacKey } from '../../src/tokens/keys.js';
import { IdentityError, type IdentityErrorCode } from '../../src/upstream/index.js';

/** A key to sign identity tokens with, as the gateway holds it: an HMAC key or an imported private key. */
export interface MintingKey {
  readonly alg: string;
  readonly kid: string;
  readonly key: webcrypto.CryptoKey | Uint8Array;
}

export async function mintingKeyFromJwk(privateJwk: JWK, alg: string, kid: string): Promise<MintingKey> {
  return { alg, kid, key: (await importJWK(privateJwk, alg)) as webcrypto.CryptoKey };
}

/**
 * An identity token of exactly the format the gateway sends upstream (issue 11): header { alg, kid, typ:
 * identity+jwt }, claims iss, aud (the upstream's name), sub, sid, roles, jti, iat, exp ≤ iat + 60. Every part
 * can be overridden, which is how the tests make bad ones.
 */
export async function mintIdentityToken(
  signing: MintingKey,
  options: {
    audience?: string | string[];
    issuer?: string;
    userId?: string;
    sessionId?: string | undefined;
    roles?: unknown;
    amr?: unknown;
    authTime?: unknown;
    jti?: string | undefined;
    nowMs?: number;
    ttlSeconds?: number;
    header?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const iat = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = { roles: 'roles' in options ? options.roles : ['USER'] };
  const sid = 'sessionId' in options ? options.sessionId : 'session-1';
  if (sid !== undefined) claims['sid'] = sid;
  if (options.amr !== undefined) claims['amr'] = options.amr;
  if (options.authTime !== undefined) claims['auth_time'] = options.authTime;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'identity+jwt', ...options.header })
    .setIssuer(options.issuer ?? 'portcullis')
    .setAudience(options.audience ?? 'shop')
    .setSubject(options.userId ?? 'user-1')
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? 60));
  const jti = 'jti' in options ? options.jti : randomBytes(16).toString('base64url');
  if (jti !== undefined) jwt.setJti(jti);
  return jwt.sign(signing.key);
}

/** Awaits a verification that must fail, and returns its code. */
export async function refusalCode(verification: Promise<unknown>): Promise<IdentityErrorCode> {
  const error = await verification.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(IdentityError);
  return (error as IdentityError).code;
}

/** Claims of a token, for assertions. */
export function claimsOf(token: string): Record<string, unknown> {
  return decodeJwt(token);
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function close(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** A server that hands out `body` at /.well-known/jwks.json and counts how often it was asked. */
export function countingJwksServer(body: () => Promise<string>): { server: Server; hits: () => number } {
  let hits = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    hits++;
    void body().then((text) => res.writeHead(200, { 'content-type': 'application/json' }).end(text));
  });
  return { server, hits: () => hits };
}

/** An HS256 key as written (a JWT_SECRET, or an upstream's identity key), with the gateway's kid rule. */
export async function hmacMintingKey(secret: string): Promise<MintingKey> {
  const parsed = parseSecret(secret);
  if (!parsed.ok) throw new Error(parsed.problem);
  const hmac = await createHmacKey(parsed.secret);
  return { alg: 'HS256', kid: hmac.kid, key: hmac.signKey as webcrypto.CryptoKey };
}

/** The identity key the gateway derives for `upstream` from a JWT_SECRET (what npm run identity:key prints). */
export async function identityKeyOf(jwtSecret: string, upstream: string): Promise<string> {
  const parsed = parseSecret(jwtSecret);
  if (!parsed.ok) throw new Error(parsed.problem);
  return printableIdentityKey(parsed.secret, upstream);
}
