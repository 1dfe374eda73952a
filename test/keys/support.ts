import { randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import type { Config, Env } from '../../src/config/config.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { createSigningKeysStore } from '../../src/stores/signing-keys.store.js';
import { ACCESS_TOKEN_TYPE } from '../../src/tokens/access-token.js';
import { createKeyEncryption } from '../../src/tokens/key-encryption.js';
import { CurrentSessionDocument, LoginDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import type { GraphQLResponse, TestGateway } from '../support/gateway.js';

export const PASSWORD = 'correct horse battery staple';

/** A gateway config signing with key pairs; JWT_SECRET is removed, as an operator of such a gateway would. */
export function keyConfig(overrides: Env = {}): Config {
  return testConfig({ JWT_ALGORITHM: 'EdDSA', KEY_ROTATION_LEAD_SECONDS: '600', JWT_SECRET: undefined, ...overrides });
}

export interface Jwks {
  readonly status: number;
  readonly cacheControl: string | null;
  readonly keys: Array<JWK & { kid: string; alg: string; use: string }>;
}

export async function fetchJwks(gateway: { url: string }): Promise<Jwks> {
  const response = await fetch(`${gateway.url}/.well-known/jwks.json`);
  const body = (await response.json()) as { keys: Jwks['keys'] };
  return { status: response.status, cacheControl: response.headers.get('cache-control'), keys: body.keys };
}

export async function jwksKids(gateway: { url: string }): Promise<string[]> {
  return (await fetchJwks(gateway)).keys.map((key) => key.kid).sort();
}

export async function login(gateway: TestGateway, email: string): Promise<{ accessToken: string; userId: string }> {
  const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
  expect(response.body.errors).toBeUndefined();
  const payload = response.body.data?.login;
  if (!payload?.accessToken) throw new Error('expected an access token in the login body');
  return { accessToken: payload.accessToken, userId: payload.user.id };
}

export function kidOf(token: string): string {
  const { kid } = decodeProtectedHeader(token);
  if (typeof kid !== 'string') throw new Error('expected a kid in the token header');
  return kid;
}

type CurrentSessionResponse = GraphQLResponse<{ currentSession: { id: string; accessTokenExpiresAt: unknown; roles: string[] } }>;

/** An authenticated query that needs no database read: only the token decides its answer. */
export function currentSession(gateway: TestGateway, token: string): Promise<CurrentSessionResponse> {
  return gateway.request(CurrentSessionDocument, {}, { headers: { authorization: `Bearer ${token}` } });
}

export async function expectAccepted(gateway: TestGateway, token: string): Promise<void> {
  const response = await currentSession(gateway, token);
  expect(response.body.errors).toBeUndefined();
  expect(response.body.data?.currentSession.id).toBe(decodeJwt(token)['sid']);
}

export async function expectRefused(gateway: TestGateway, token: string, reason: TokenRejection = TokenRejection.TOKEN_INVALID): Promise<void> {
  const response = await currentSession(gateway, token);
  expect(response.body.data).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason });
}

/** The private JWK of a stored key, decrypted as the gateway does: what an insider with the secret could sign with. */
export async function storedPrivateJwk(gateway: TestGateway, kid: string): Promise<JWK> {
  const store = await createSigningKeysStore(gateway.app.database);
  const stored = (await store.list()).find((key) => key.kid === kid);
  if (!stored) throw new Error(`no stored key ${kid}`);
  return createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret).open(kid, stored.sealedPrivateJwk);
}

/** Retires a stored key as an operator with the gateway secret would, re-MACing the record (an emergency retirement). */
export async function retireStoredKey(gateway: TestGateway, kid: string, at: Date): Promise<void> {
  const store = await createSigningKeysStore(gateway.app.database);
  const stored = (await store.list()).find((key) => key.kid === kid);
  if (!stored) throw new Error(`no stored key ${kid}`);
  await store.retire(kid, at, createKeyEncryption(gateway.config.tokens.refreshTokenHashSecret).authenticate({ ...stored, retiresAt: at }));
}

/**
 * A token of exactly the shape the gateway issues, copying the identity of `like` (a genuine token), issued at
 * `nowMs`, signed with `privateJwk` under `header` (alg and kid taken from it).
 */
export async function forgeToken(options: {
  like: string;
  privateJwk: JWK;
  header: { alg: string; kid?: string } & Record<string, unknown>;
  nowMs: number;
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
}): Promise<string> {
  const original = decodeJwt(options.like) as JWTPayload & { sid: string; roles: string[] };
  const issuedAt = Math.floor(options.nowMs / 1000);
  const key = await importJWK(options.privateJwk, options.header.alg);
  return new SignJWT({ sid: original.sid, roles: original.roles })
    .setProtectedHeader({ typ: ACCESS_TOKEN_TYPE, ...options.header })
    .setSubject(original.sub!)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuer(options.issuer ?? original.iss!)
    .setAudience(options.audience ?? (original.aud as string))
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (options.ttlSeconds ?? 900))
    .sign(key);
}

/** Every property name anywhere in a value, recursively. */
export function propertyNames(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const item of value) propertyNames(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [name, child] of Object.entries(value)) {
      into.add(name);
      propertyNames(child, into);
    }
  }
  return into;
}

/** JWK members that hold private or symmetric key material. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
