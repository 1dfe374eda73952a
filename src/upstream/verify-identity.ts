import type { IncomingHttpHeaders } from 'node:http';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { MIN_SECRET_BYTES, parseSecret, Secret } from '../config/secret.js';
import { createIdentityKey } from '../tokens/identity-key.js';
import { IDENTITY_TOKEN_TTL_SECONDS, IDENTITY_TOKEN_TYPE } from '../tokens/identity-token.js';
import { createHmacKey, importHmacKey, type SigningKey } from '../tokens/keys.js';
import { IdentityError, IdentityErrorCode } from './identity-error.js';

/** The `typ` header of an identity token (the gateway's own constant); an access token says `at+jwt` and never passes here. */
export { IDENTITY_TOKEN_TYPE };
/** The longest an identity token may live (`exp − iat`), in seconds. A longer-lived one is refused even if signed. */
export const MAX_IDENTITY_TOKEN_SECONDS = IDENTITY_TOKEN_TTL_SECONDS;
/** What the gateway signs identity tokens with when it publishes a JWKS. HS256 never comes from a JWKS. */
export const ASYMMETRIC_ALGORITHMS = ['EdDSA', 'ES256', 'RS256', 'PS256'] as const;

/** Identity tokens are a few hundred characters; anything far larger is refused before it is decoded. */
const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BEARER = /^Bearer +(\S+) *$/i;

/** Who the gateway says is calling. */
export interface Identity {
  readonly userId: string;
  readonly sessionId: string;
  readonly roles: readonly string[];
  /** The identity token's `jti`: log it to tie an upstream request to the gateway's. */
  readonly tokenId: string;
  readonly expiresAt: Date;
  /**
   * How the session signed in (RFC 8176 `amr`: `pwd`, `otp`, `mfa`, `hwk`/`swk`, `user`, `fed`); `mfa` in it means a
   * second factor or a passkey. Empty when the gateway sent none.
   */
  readonly amr: readonly string[];
  /** When the person last proved who they are (`auth_time`: the sign-in or a later step-up); null when not sent. */
  readonly authTime: Date | null;
}

/**
 * This upstream's HS256 identity key: what `npm run identity:key -- --upstream <name>` prints on the gateway
 * (base64url; hex is read too), or its bytes. Never the gateway's JWT_SECRET, which signs access tokens.
 */
export type IdentityKey = string | Uint8Array;

/**
 * Where the gateway's keys come from: its base URL (public keys from `<url>/.well-known/jwks.json`, for
 * JWT_ALGORITHM=EdDSA, ES256, RS256 or PS256), or with HS256 `{ secret }`: this upstream's identity key, or a
 * few of them while JWT_SECRET changes (the new one and the old one; each token names its key by `kid`).
 */
export type GatewayKeys = string | URL | { readonly secret: IdentityKey | readonly IdentityKey[] };

export interface VerifyIdentityOptions {
  readonly gateway: GatewayKeys;
  /** This upstream's name in the gateway's UPSTREAMS: identity tokens for any other upstream are refused. */
  readonly audience: string;
  /** The gateway's JWT_ISSUER. */
  readonly issuer?: string;
  /** Allowed clock difference between the gateway's host and this one, in seconds (default 5). */
  readonly clockToleranceSeconds?: number;
  /** Milliseconds since the epoch; tests inject the gateway's clock. */
  readonly now?: () => number;
}

/** A Fetch `Request`, a Node `IncomingMessage`, Fetch `Headers`, or a plain headers object. */
export type IdentitySource =
  | { readonly headers: Headers | IncomingHttpHeaders }
  | Headers
  | Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Verifies the identity token the gateway sends upstream (`Authorization: Bearer <identity token>`). Returns the
 * identity, `null` for a guest (no Authorization header: the gateway sends none for guests), and throws
 * `IdentityError` (IDENTITY_INVALID, IDENTITY_EXPIRED, IDENTITY_KEYS_UNAVAILABLE) for anything else. Passing
 * options that cannot work (an unusable secret, a URL that is not http(s)) throws a `TypeError`.
 */
export async function verifyIdentity(source: IdentitySource, options: VerifyIdentityOptions): Promise<Identity | null> {
  const audience = options.audience;
  if (typeof audience !== 'string' || audience === '') throw new TypeError('verifyIdentity: `audience` must be this upstream’s name in UPSTREAMS.');
  const keys = resolveKeys(options.gateway);
  const authorization = readAuthorization(source);
  if (authorization === undefined) return null;
  const token = typeof authorization === 'string' ? BEARER.exec(authorization)?.[1] : undefined;
  if (token === undefined || token.length > MAX_TOKEN_LENGTH) throw new IdentityError(IdentityErrorCode.IDENTITY_INVALID);
  const at = options.now?.() ?? Date.now();
  const tolerance = options.clockToleranceSeconds ?? 5;
  const issuer = options.issuer ?? 'portcullis';
  // The gateway re-sends one token per session for most of its minute, so most requests are a lookup. Only
  // verified tokens are stored, with the issuer and audience they were checked for (a hit must match both), and
  // every hit has its expiry checked against the clock: an entry never extends a token's life. Keyed by the token
  // itself, so a hit builds no key string; the exact string passed the format and canonical checks when it was
  // stored, so a hit skips those scans too.
  const cached = keys.verified.get(token);
  if (cached && cached.issuer === issuer && cached.audience === audience) {
    if (at / 1000 >= cached.identity.expiresAt.getTime() / 1000 + tolerance) throw new IdentityError(IdentityErrorCode.IDENTITY_EXPIRED);
    return cached.identity;
  }
  if (!COMPACT_JWS.test(token) || !isCanonical(token)) throw new IdentityError(IdentityErrorCode.IDENTITY_INVALID);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, (header, input) => keys.getKey(header, input, audience), {
      algorithms: [...keys.algorithms],
      issuer,
      audience,
      typ: IDENTITY_TOKEN_TYPE,
      requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
      // Also refuses an `iat` in the future: with exp − iat ≤ 60 alone, a token dated a year ahead would live a year.
      maxTokenAge: MAX_IDENTITY_TOKEN_SECONDS,
      clockTolerance: tolerance,
      currentDate: new Date(at),
    }));
  } catch (error) {
    throw translate(error);
  }
  // jose has verified the signature by now, so what follows is about genuine tokens of the wrong shape.
  const identity = readIdentity(payload);
  if (!identity) throw new IdentityError(IdentityErrorCode.IDENTITY_INVALID);
  keys.verified.set(token, { issuer, audience, identity });
  return identity;
}

interface ResolvedKeys {
  readonly algorithms: readonly string[];
  /** jose's key lookup, told the audience being verified for (HS256 uses it to explain a misplaced JWT_SECRET). */
  readonly getKey: (header: JWTHeaderParameters, input: Parameters<JWTVerifyGetKey>[1], audience: string) => ReturnType<JWTVerifyGetKey>;
  /** Identities of verified tokens, by token, with the issuer and audience they were verified for; they live at most a minute anyway. */
  readonly verified: LRUCache<string, VerifiedIdentity>;
}

interface VerifiedIdentity {
  readonly issuer: string;
  readonly audience: string;
  readonly identity: Identity;
}

/** Verified tokens remembered per key source: about one per active session of the last minute. */
const VERIFIED_CACHE_SIZE = 1000;

function verifiedCache(): LRUCache<string, VerifiedIdentity> {
  // lru-cache's own TTL (real time) only bounds memory; the expiry check on every hit decides validity.
  // ttlResolution 0: otherwise lru-cache arms a fresh setTimeout every millisecond under load to memoise the time.
  return new LRUCache<string, VerifiedIdentity>({ max: VERIFIED_CACHE_SIZE, ttl: (MAX_IDENTITY_TOKEN_SECONDS + 60) * 1000, ttlResolution: 0 });
}

/** One JWKS client per URL for the life of the process: jose caches the keys and refetches on an unknown kid. */
const remoteKeys = new Map<string, ResolvedKeys>();
/** HS256 keys by the key(s) as written, or by the bytes (or list) object: imported once, not on every request. */
const secretKeys = new Map<string, ResolvedKeys>();
const byteKeys = new WeakMap<object, ResolvedKeys>();
/** A rotation needs two keys (the new one and the old one); a long list is a mistake, not a schedule. */
const MAX_IDENTITY_KEYS = 4;

function resolveKeys(gateway: GatewayKeys): ResolvedKeys {
  if (typeof gateway === 'string' || gateway instanceof URL) return remoteKeysFor(gateway);
  if (gateway !== null && typeof gateway === 'object' && 'secret' in gateway) {
    const secret: unknown = gateway.secret;
    const list: readonly unknown[] = Array.isArray(secret) ? secret : [secret];
    if (list.length === 0 || list.length > MAX_IDENTITY_KEYS) {
      throw new TypeError(`verifyIdentity: gateway.secret must be this upstream’s identity key, or a list of 1 to ${MAX_IDENTITY_KEYS} of them.`);
    }
    // All strings (the usual case, even when the list is built anew on every request): keyed by their text.
    if (list.every((entry) => typeof entry === 'string')) {
      const text = list.join(' ');
      let keys = secretKeys.get(text);
      if (!keys) {
        keys = hmacKeys(list.map(readIdentityKey));
        secretKeys.set(text, keys);
      }
      return keys;
    }
    if (typeof secret === 'object' && secret !== null) {
      let keys = byteKeys.get(secret);
      if (!keys) {
        keys = hmacKeys(list.map(readIdentityKey));
        byteKeys.set(secret, keys);
      }
      return keys;
    }
  }
  throw new TypeError('verifyIdentity: `gateway` must be the gateway’s base URL or { secret } (this upstream’s identity key: npm run identity:key -- --upstream <name>).');
}

function readIdentityKey(entry: unknown): Secret {
  if (typeof entry === 'string') {
    const parsed = parseSecret(entry);
    if (!parsed.ok) throw new TypeError(`verifyIdentity: gateway.secret ${parsed.problem}; pass this upstream’s identity key as npm run identity:key prints it.`);
    return parsed.secret;
  }
  if (entry instanceof Uint8Array) {
    if (entry.length < MIN_SECRET_BYTES) throw new TypeError(`verifyIdentity: gateway.secret must be at least ${MIN_SECRET_BYTES} bytes.`);
    return new Secret(entry);
  }
  throw new TypeError('verifyIdentity: gateway.secret must be a string (as npm run identity:key prints it) or bytes.');
}

function remoteKeysFor(gateway: string | URL): ResolvedKeys {
  const base = String(gateway).replace(/\/+$/, '');
  let keys = remoteKeys.get(base);
  if (keys) return keys;
  let url: URL;
  try {
    url = new URL(`${base}/.well-known/jwks.json`);
  } catch {
    throw new TypeError(`verifyIdentity: gateway ${JSON.stringify(base)} is not a URL; pass the gateway’s base URL, e.g. http://gateway:4000.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('verifyIdentity: the gateway URL must be http(s).');
  const jwks = createRemoteJWKSet(url);
  keys = {
    algorithms: ASYMMETRIC_ALGORITHMS,
    verified: verifiedCache(),
    getKey: async (header: JWTHeaderParameters, token) => {
      checkHeader(header);
      try {
        return await jwks(header, token);
      } catch (error) {
        // No key for this kid (or several) is the token's fault; anything else (network, timeout, not JSON,
        // not a JWKS) is the gateway's, and the caller should answer 503 rather than "not signed in".
        if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) throw error;
        throw new IdentityError(IdentityErrorCode.IDENTITY_KEYS_UNAVAILABLE, { cause: error });
      }
    },
  };
  remoteKeys.set(base, keys);
  return keys;
}

/**
 * The held identity keys, with the gateway's `kid` rule (`importHmacKey`), so a token must name one of these very
 * keys, each imported once as a non-extractable CryptoKey.
 */
function hmacKeys(secrets: readonly Secret[]): ResolvedKeys {
  const byKid: Promise<Map<string, SigningKey>> = Promise.all(secrets.map(importHmacKey)).then((keys) => new Map(keys.map((key) => [key.kid, key])));
  const derivedKids = new Map<string, Promise<Set<string>>>();
  return {
    algorithms: ['HS256'],
    verified: verifiedCache(),
    getKey: async (header: JWTHeaderParameters, _input, audience: string) => {
      checkHeader(header);
      const found = (await byKid).get(header.kid as string);
      if (found) return found.verifyKey;
      if (await heldAsJwtSecret(header.kid as string, audience)) {
        throw new IdentityError(IdentityErrorCode.IDENTITY_INVALID, { cause: new TypeError(jwtSecretHeld(audience)) });
      }
      throw new joseErrors.JWSSignatureVerificationFailed();
    },
  };

  /**
   * Whether `kid` is the identity key the gateway would derive for `audience` from a held key: then this upstream
   * was given the gateway's JWT_SECRET (as the first releases told it to) instead of its own key. The answer is
   * the same IDENTITY_INVALID (tokens are refused alike), with a `cause` saying what to change for the upstream's
   * own logs. Derived kids are computed once per audience; audiences come from the caller's code, so few.
   */
  function heldAsJwtSecret(kid: string, audience: string): Promise<boolean> {
    let kids = derivedKids.get(audience);
    if (!kids) {
      kids = Promise.all(secrets.map(async (secret) => (await createIdentityKey(await createHmacKey(secret), audience)).kid)).then((list) => new Set(list));
      if (derivedKids.size < MAX_AUDIENCES) derivedKids.set(audience, kids);
    }
    return kids.then((set) => set.has(kid));
  }
}

/** How many audiences one key list remembers derived kids for (see heldAsJwtSecret). */
const MAX_AUDIENCES = 16;

function jwtSecretHeld(audience: string): string {
  return `verifyIdentity: gateway.secret is the gateway’s JWT_SECRET, not this upstream’s identity key. Print the key on the gateway with npm run identity:key -- --upstream ${audience}, pass that instead, and remove JWT_SECRET from this service: it signs access tokens.`;
}

/**
 * `typ` exactly: jose compares it case-insensitively and without an `application/` prefix, while the format
 * is one spelling. A `kid` is required: the gateway always sends one, and keys are chosen only by it.
 */
function checkHeader(header: JWTHeaderParameters): void {
  if (header.typ !== IDENTITY_TOKEN_TYPE || typeof header.kid !== 'string') throw new joseErrors.JWSSignatureVerificationFailed();
}

function translate(error: unknown): unknown {
  if (error instanceof IdentityError) return error;
  // jose checks the signature before any claim, so "expired" also means "genuine".
  if (error instanceof joseErrors.JWTExpired) return new IdentityError(IdentityErrorCode.IDENTITY_EXPIRED);
  if (error instanceof joseErrors.JOSEError) return new IdentityError(IdentityErrorCode.IDENTITY_INVALID);
  return error;
}

/** The Authorization header of any supported request shape; an array when a plain object carries it twice. */
function readAuthorization(source: IdentitySource): string | readonly string[] | undefined {
  if (source instanceof Headers) return source.get('authorization') ?? undefined;
  if ('headers' in source && source.headers !== null && typeof source.headers === 'object') {
    return readAuthorization(source.headers as IdentitySource);
  }
  const found: string[] = [];
  for (const [name, value] of Object.entries(source as Readonly<Record<string, string | readonly string[] | undefined>>)) {
    if (name.toLowerCase() !== 'authorization' || value === undefined) continue;
    if (typeof value === 'string') found.push(value);
    else found.push(...value);
  }
  if (found.length === 0) return undefined;
  return found.length === 1 ? found[0] : found;
}

/**
 * Decoders ignore the unused low bits of a segment's last character, so a token has other spellings that
 * verify too; only the canonical one, the one the gateway signs, counts (so a log or cache keyed by the token
 * string sees one token once).
 */
function isCanonical(token: string): boolean {
  return token.split('.').every((part) => Buffer.from(part, 'base64url').toString('base64url') === part);
}

/** auth_time may come from another gateway instance's clock (instances agree within 30 s): a little ahead of iat is fine. */
const AUTH_TIME_SKEW_SECONDS = 60;

function readIdentity(payload: JWTPayload): Identity | undefined {
  const { sub, sid, jti, iat, exp, aud, roles, amr, auth_time: authTime } = payload as JWTPayload & { sid?: unknown; roles?: unknown; amr?: unknown; auth_time?: unknown };
  // One audience only: a token naming several upstreams could be replayed from one of them to another.
  if (typeof aud !== 'string') return undefined;
  if (!isId(sub) || !isId(sid) || !isId(jti)) return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > MAX_IDENTITY_TOKEN_SECONDS) return undefined;
  if (!Array.isArray(roles) || roles.length > 32 || !roles.every((role) => typeof role === 'string' && role.length > 0 && role.length <= 64)) return undefined;
  // Upstreams may grant on these (a second factor), so a malformed value refuses the token rather than reading as "none".
  if (amr !== undefined && (!Array.isArray(amr) || amr.length > 16 || !amr.every((value) => typeof value === 'string' && /^[a-z]{1,16}$/.test(value)))) return undefined;
  if (authTime !== undefined && (typeof authTime !== 'number' || !Number.isInteger(authTime) || authTime <= 0 || authTime > iat + AUTH_TIME_SKEW_SECONDS)) return undefined;
  return Object.freeze({
    userId: sub,
    sessionId: sid,
    roles: Object.freeze([...(roles as string[])]),
    tokenId: jti,
    expiresAt: new Date(exp * 1000),
    amr: Object.freeze([...((amr as string[] | undefined) ?? [])]),
    authTime: typeof authTime === 'number' ? new Date(authTime * 1000) : null,
  });
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}
