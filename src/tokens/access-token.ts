import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { TokenRejection } from '../errors.js';
import { randomId } from './ids.js';
import { SIGNING_ALGORITHMS, type KeyRing } from './keys.js';

/** RFC 9068 media type. Refresh tokens are opaque, so nothing else we issue could carry it. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/**
 * Our tokens are about 350 characters. Anything far larger is refused before it is decoded, so a huge header
 * or payload costs no parsing.
 */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** 9999-12-31T23:59:59Z: the last NumericDate that Date, ISO 8601 and BSON all represent. */
const LAST_NUMERIC_DATE = 253_402_300_799;

export interface AccessTokenClaims {
  readonly userId: string;
  readonly sessionId: string;
  readonly tokenId: string;
  readonly roles: readonly string[];
  /** The user's token generation at issue (`gen`; 0 when absent): user-wide revocations name tokens below one. */
  readonly generation: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** How the session signed in (`amr`, RFC 8176 values such as pwd, otp, mfa, hwk); empty for tokens issued before it existed. */
  readonly amr: readonly string[];
  /** When the person last proved who they are (`auth_time`, seconds); 0 for tokens issued before it existed. */
  readonly authTime: number;
}

export interface IssuedAccessToken {
  readonly token: string;
  readonly claims: AccessTokenClaims;
}

export type AccessTokenVerification =
  | { readonly ok: true; readonly claims: AccessTokenClaims }
  | { readonly ok: false; readonly reason: TokenRejection };

export interface AccessTokenOptions {
  readonly keys: KeyRing;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  readonly clockToleranceSeconds: number;
  /** Milliseconds since the epoch; injected so tests move time instead of sleeping. */
  readonly now: () => number;
  /** How many verified tokens to remember (0: verify every time). */
  readonly cacheSize: number;
}

export interface TokenSubject {
  readonly userId: string;
  readonly sessionId: string;
  readonly roles: readonly string[];
  /** The user's token generation (default 0). */
  readonly generation?: number;
  readonly notAfter?: number;
  /** `amr` and `auth_time` (seconds) of the session. */
  readonly amr?: readonly string[];
  readonly authTime?: number;
}

export interface AccessTokens {
  issue(subject: TokenSubject): Promise<IssuedAccessToken>;
  verify(token: string): Promise<AccessTokenVerification>;
  /**
   * For logout only: the claims of a token that is genuine (our key, algorithm, issuer, audience, type and
   * claim shapes all check out) but expired; undefined for anything else, a live token included. An expired
   * token proves nothing about who presents it, so this must never grant access: it only names a session to end.
   */
  readExpiredClaims(token: string): Promise<AccessTokenClaims | undefined>;
  cacheStats(): { readonly hits: number; readonly misses: number; readonly size: number };
}

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { keys, issuer, audience, ttlSeconds, clockToleranceSeconds, now } = options;
  // Verified tokens by their exact string. A signature check costs 30-130 us; a lookup well under one. Only
  // genuine tokens are stored (garbage is cheap to refuse and must not evict real entries), and every hit
  // still has its expiry checked against the clock, so an entry can never extend a token's life. The revocation
  // view is consulted on every request by the caller, cached or not.
  // ttlResolution 0: otherwise lru-cache memoises performance.now() for 1 ms by arming a fresh setTimeout every
  // millisecond under load, which cost more than the lookup itself (about 1.5 us a request in a CPU profile).
  const cache = options.cacheSize > 0 ? new LRUCache<string, { claims: AccessTokenClaims; kid: string }>({ max: options.cacheSize, ttlResolution: 0 }) : undefined;
  let hits = 0;
  let misses = 0;

  async function issue(subject: TokenSubject): Promise<IssuedAccessToken> {
    const issuedAt = Math.floor(now() / 1000);
    // An access token never outlives its session: `notAfter` (the session's absolute end) caps the lifetime.
    const expiresAt = Math.min(issuedAt + ttlSeconds, subject.notAfter ?? Number.POSITIVE_INFINITY);
    const tokenId = randomId();
    const generation = subject.generation ?? 0;
    const amr = [...(subject.amr ?? [])];
    const authTime = subject.authTime ?? issuedAt;
    const key = keys.current(now());
    if (!key.signKey) throw new Error(`The current key ${key.kid} cannot sign in this process.`);
    const token = await new SignJWT({ sid: subject.sessionId, roles: [...subject.roles], gen: generation, amr, auth_time: authTime })
      .setProtectedHeader({ alg: key.alg, typ: ACCESS_TOKEN_TYPE, kid: key.kid })
      .setSubject(subject.userId)
      .setJti(tokenId)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(key.signKey);
    return { token, claims: { userId: subject.userId, sessionId: subject.sessionId, tokenId, roles: [...subject.roles], generation, issuedAt, expiresAt, amr, authTime } };
  }

  async function verify(token: string): Promise<AccessTokenVerification> {
    if (token.length > MAX_ACCESS_TOKEN_LENGTH) return invalid();
    // The cache holds only exact strings that passed the format check and full verification, so a hit needs
    // no second regex scan of its 350 characters; everything else is checked before it is decoded.
    const cached = cache?.get(token);
    if (cached) {
      hits++;
      // A cached token never outlives the key that verified it: retiring a key ends its tokens at once.
      if (!keys.find(cached.kid, now())) {
        cache?.delete(token);
        return invalid();
      }
      if (now() / 1000 >= cached.claims.expiresAt + clockToleranceSeconds) {
        cache?.delete(token);
        return { ok: false, reason: TokenRejection.TOKEN_EXPIRED };
      }
      return { ok: true, claims: cached.claims };
    }
    if (!COMPACT_JWS.test(token)) return invalid();
    misses++;
    const { result, kid } = await verifyFully(token);
    if (result.ok && cache && kid !== undefined) {
      // lru-cache's own TTL runs on real time; it bounds memory, while the checks above decide validity.
      cache.set(token, { claims: result.claims, kid }, { ttl: Math.max(1, (result.claims.expiresAt + clockToleranceSeconds) * 1000 - now()) });
    }
    return result;
  }

  async function verifyFully(token: string): Promise<{ result: AccessTokenVerification; kid?: string; expiredClaims?: AccessTokenClaims }> {
    // Decoders ignore the unused low bits of a segment's last character, so each token would have other
    // spellings (e.g. of its signature) that verify too. Only the canonical spelling, the one we issue, counts.
    if (!token.split('.').every((part) => Buffer.from(part, 'base64url').toString('base64url') === part)) return { result: invalid() };
    let payload: JWTPayload;
    let kid: string | undefined;
    const at = now();
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          // The key comes from our ring by kid, live at this moment, and its algorithm is pinned: a token naming
          // another algorithm for the key (an HMAC over a public key, say) fails. jku/jwk/x5u/x5c are never read,
          // and an unknown kid costs a map lookup, never a fetch.
          const found = typeof header.kid === 'string' ? keys.find(header.kid, at) : undefined;
          if (!found || header.alg !== found.alg) throw new joseErrors.JWSSignatureVerificationFailed();
          kid = found.kid;
          return found.verifyKey;
        },
        {
          algorithms: [...SIGNING_ALGORITHMS],
          issuer,
          audience,
          typ: ACCESS_TOKEN_TYPE,
          clockTolerance: clockToleranceSeconds,
          requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
          currentDate: new Date(at),
        },
      ));
    } catch (error) {
      // jose checks the signature before any claim, and `exp` after typ, issuer and audience, so "expired" here
      // also means "genuine": its payload is what logout may read (readExpiredClaims).
      if (error instanceof joseErrors.JWTExpired) {
        const expiredClaims = readClaims(error.payload);
        return { result: { ok: false, reason: TokenRejection.TOKEN_EXPIRED }, ...(expiredClaims && { expiredClaims }) };
      }
      if (error instanceof joseErrors.JOSEError) return { result: invalid() };
      throw error;
    }
    const claims = readClaims(payload);
    return claims ? { result: { ok: true, claims }, kid } : { result: invalid() };
  }

  async function readExpiredClaims(token: string): Promise<AccessTokenClaims | undefined> {
    if (token.length > MAX_ACCESS_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return undefined;
    // Never from the cache: it holds live tokens only, and this answers for expired ones alone.
    const { expiredClaims } = await verifyFully(token);
    return expiredClaims;
  }

  return {
    issue,
    verify,
    readExpiredClaims,
    cacheStats: () => ({ hits, misses, size: cache?.size ?? 0 }),
  };
}

function invalid(): AccessTokenVerification {
  return { ok: false, reason: TokenRejection.TOKEN_INVALID };
}

/** Claim types are checked too: a genuine signature over a payload of the wrong shape is still refused. */
function readClaims(payload: JWTPayload): AccessTokenClaims | undefined {
  const { sub, sid, jti, iat, exp, roles, gen, amr, auth_time } = payload as JWTPayload & { sid?: unknown; roles?: unknown; gen?: unknown; amr?: unknown; auth_time?: unknown };
  if (!isId(sub) || !isId(sid) || !isId(jti)) return undefined;
  if (!isNumericDate(iat) || !isNumericDate(exp)) return undefined;
  if (!Array.isArray(roles) || roles.length > 32 || !roles.every((role) => typeof role === 'string' && role.length <= 64)) return undefined;
  // Tokens issued before `gen` existed count as generation 0, the generation every user starts at.
  if (gen !== undefined && !(typeof gen === 'number' && Number.isSafeInteger(gen) && gen >= 0)) return undefined;
  // Tokens issued before `amr` and `auth_time` existed say nothing about how their session signed in: no
  // factor counts, and any re-authentication check asks again.
  if (amr !== undefined && !(Array.isArray(amr) && amr.length <= 8 && amr.every((value) => typeof value === 'string' && value.length <= 16))) return undefined;
  if (auth_time !== undefined && !isNumericDate(auth_time)) return undefined;
  return {
    userId: sub,
    sessionId: sid,
    tokenId: jti,
    roles: roles as string[],
    generation: gen ?? 0,
    issuedAt: iat,
    expiresAt: exp,
    amr: (amr as string[] | undefined) ?? [],
    authTime: auth_time ?? 0,
  };
}

/** Times we could have issued: jose accepts any JSON number (1e308, Infinity from 1e309), which no Date can hold. */
function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= LAST_NUMERIC_DATE;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}
