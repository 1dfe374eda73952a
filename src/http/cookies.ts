import type { IncomingHttpHeaders } from 'node:http';
import { parse, serialize } from 'cookie';
import ipaddr from 'ipaddr.js';
import type { IssuedSession } from '../auth/auth-service.js';

/**
 * `__Host-`: the browser accepts it only with Secure, Path=/ and no Domain, so no subdomain or plain-http page
 * can plant or overwrite it.
 */
export const ACCESS_COOKIE = '__Host-portcullis-access';
/**
 * `__Secure-` (a `__Host-` cookie must have Path=/). Its Path is the auth endpoint, so ordinary API calls
 * never carry the refresh token; SameSite=Strict keeps it off every cross-site request.
 */
export const REFRESH_COOKIE = '__Secure-portcullis-refresh';
export const AUTH_PATH = '/graphql/auth';
/**
 * Binds a passkey sign-in's challenge to the browser that asked for it (a random value; the challenge record keeps
 * only its hash). HttpOnly, SameSite=Strict, five minutes.
 */
export const PASSKEY_COOKIE = '__Host-portcullis-passkey';
export const API_PATH = '/graphql';
/** GraphQL over SSE (src/live/). */
export const STREAM_PATH = '/graphql/stream';

/**
 * Both cookies of a session. Secure always: browsers treat http://localhost as a secure context, so local
 * development over plain http still works, and nothing ever downgrades the attribute.
 */
export function sessionCookies(session: IssuedSession, nowMs: number): string[] {
  const nowSeconds = Math.floor(nowMs / 1000);
  return [
    serialize(ACCESS_COOKIE, session.accessToken.token, {
      httpOnly: true,
      secure: true,
      sameSite: 'lax',
      path: '/',
      maxAge: Math.max(0, session.accessToken.claims.expiresAt - nowSeconds),
    }),
    serialize(REFRESH_COOKIE, session.refreshToken, {
      httpOnly: true,
      secure: true,
      sameSite: 'strict',
      path: AUTH_PATH,
      maxAge: Math.max(0, Math.floor((session.refreshTokenExpiresAt.getTime() - nowMs) / 1000)),
    }),
  ];
}

/** Both cookies expired, with the same names, paths and attributes as when they were set. */
export function clearedSessionCookies(): string[] {
  const expired = { httpOnly: true, secure: true, maxAge: 0, expires: new Date(0) } as const;
  return [
    serialize(ACCESS_COOKIE, '', { ...expired, sameSite: 'lax', path: '/' }),
    serialize(REFRESH_COOKIE, '', { ...expired, sameSite: 'strict', path: AUTH_PATH }),
  ];
}

/**
 * How many times the request carries the refresh cookie's name. A browser sends one per (domain, path) that
 * holds it: two mean a second cookie shadows ours, most likely set for the parent domain by a sibling
 * subdomain. `cookie.parse` keeps only the first of a repeated name, so the names are counted here.
 */
export function refreshCookieCount(headers: IncomingHttpHeaders): number {
  const cookieHeader = headers.cookie;
  // Names are compared as written (never decoded), so a header without the name has no such cookie: the
  // common case at /graphql, where the refresh cookie's Path never sends it, skips the split.
  if (cookieHeader === undefined || !cookieHeader.includes(REFRESH_COOKIE)) return 0;
  let count = 0;
  for (const pair of cookieHeader.split(';')) {
    const equals = pair.indexOf('=');
    if (equals !== -1 && pair.slice(0, equals).trim() === REFRESH_COOKIE) count++;
  }
  return count;
}

/**
 * Paths whose cookies a browser sends to the auth endpoint (RFC 6265 path-match): a shadowing refresh cookie
 * has one of these.
 */
const PATHS_SENT_TO_AUTH = ['/', API_PATH, `${API_PATH}/`, AUTH_PATH];
/** Enough for app.example.co.uk and deeper names; the browser ignores a Domain that is a public suffix. */
const MAX_PARENT_DOMAINS = 4;

/**
 * Expires every refresh cookie that can shadow ours and that this host may clear: host-only ones at each path
 * sent to the auth endpoint, and the same for each parent domain of `hostname` (a host may set and clear
 * cookies for its parent domains). What cannot be cleared from here: a cookie whose domain is a sibling's own
 * host (it never reaches this host, so it cannot shadow either), and one the browser holds for a public suffix.
 */
export function clearedShadowRefreshCookies(hostname: string): string[] {
  const expired = { httpOnly: true, secure: true, maxAge: 0, expires: new Date(0), sameSite: 'strict' } as const;
  const lines = PATHS_SENT_TO_AUTH.filter((path) => path !== AUTH_PATH).map((path) => serialize(REFRESH_COOKIE, '', { ...expired, path }));
  const host = hostname.toLowerCase();
  // Addresses have no parent domain; a bracketed IPv6 literal is one too.
  if (ipaddr.isValid(host) || host.startsWith('[')) return lines;
  const labels = host.split('.').filter((label) => label !== '');
  for (let start = 1; start < labels.length - 1 && start <= MAX_PARENT_DOMAINS; start++) {
    const domain = labels.slice(start).join('.');
    for (const path of PATHS_SENT_TO_AUTH) lines.push(serialize(REFRESH_COOKIE, '', { ...expired, path, domain }));
  }
  return lines;
}

/** The refresh token the browser sent in its cookie, if any. */
export function readRefreshCookie(headers: IncomingHttpHeaders): string | undefined {
  const cookieHeader = headers.cookie;
  // cookie.parse never decodes names: without the name as written there is nothing to parse for.
  return cookieHeader === undefined || !cookieHeader.includes(REFRESH_COOKIE) ? undefined : parse(cookieHeader)[REFRESH_COOKIE];
}

/**
 * The access token a request presents: the Authorization header when there is one, else the access cookie.
 * A header that is not exactly `Bearer <token>` yields an empty token, which verification refuses
 * (TOKEN_INVALID), instead of quietly treating the caller as a guest or accepting another scheme.
 */
export function readAccessToken(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match?.[1] ?? '';
  }
  const cookieHeader = headers.cookie;
  if (cookieHeader === undefined) return undefined;
  return parse(cookieHeader)[ACCESS_COOKIE];
}

/** The passkey ceremony cookie (see PASSKEY_COOKIE). */
export function passkeyCookie(value: string, maxAgeSeconds: number): string {
  return serialize(PASSKEY_COOKIE, value, { httpOnly: true, secure: true, sameSite: 'strict', path: '/', maxAge: maxAgeSeconds });
}

/** The passkey ceremony cookie the browser sent, if any. */
export function readPasskeyCookie(headers: IncomingHttpHeaders): string | undefined {
  const cookieHeader = headers.cookie;
  if (cookieHeader === undefined || !cookieHeader.includes(PASSKEY_COOKIE)) return undefined;
  return parse(cookieHeader)[PASSKEY_COOKIE];
}
