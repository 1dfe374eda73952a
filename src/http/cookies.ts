import type { IncomingHttpHeaders } from 'node:http';
import { parse, serialize } from 'cookie';
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
export const API_PATH = '/graphql';

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

/** The refresh token the browser sent in its cookie, if any. */
export function readRefreshCookie(headers: IncomingHttpHeaders): string | undefined {
  const cookieHeader = headers.cookie;
  return cookieHeader === undefined ? undefined : parse(cookieHeader)[REFRESH_COOKIE];
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
