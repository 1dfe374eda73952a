import type { IncomingHttpHeaders } from 'node:http';
import cors from 'cors';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { ErrorCode, publicMessage } from '../errors.js';

/** What helmet is asked for; exported so a test can compare our one-time headers with helmet's own. */
export const HELMET_OPTIONS: Parameters<typeof helmet>[0] = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  referrerPolicy: { policy: 'no-referrer' },
  frameguard: { action: 'deny' },
};

/**
 * Headers on every response. The API serves JSON only, so its Content-Security-Policy allows nothing at all:
 * no script, no framing (clickjacking), no form posts from its own pages.
 */
export function securityHeaders(): RequestHandler {
  const headers = headersOnce(helmet(HELMET_OPTIONS));
  return (_req, res, next) => {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * Helmet's headers depend on nothing in the request (no CSP nonce or function here): they are computed once, by
 * running helmet against a recording response, and each request gets the list in one loop instead of a dozen
 * middlewares each calling next(). Helmet stays the source of the values; anything else it did (it only sets
 * headers, and removes X-Powered-By, which the app never sends) would be refused here rather than silently lost.
 */
function headersOnce(middleware: RequestHandler): ReadonlyArray<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [];
  const recorder = {
    setHeader(name: string, value: unknown): void {
      if (typeof value !== 'string') throw new TypeError(`helmet set ${name} to a value that is not a string`);
      headers.push([name, value]);
    },
    removeHeader(name: string): void {
      if (name.toLowerCase() !== 'x-powered-by') throw new TypeError(`helmet removed ${name}, which headersOnce does not replay`);
    },
  };
  let passed = false;
  middleware({ headers: {} } as Parameters<RequestHandler>[0], recorder as unknown as Parameters<RequestHandler>[1], (error?: unknown) => {
    if (error) throw error;
    passed = true;
  });
  if (!passed) throw new Error('helmet did not finish synchronously: its headers cannot be computed once');
  return Object.freeze(headers);
}

/**
 * CORS for the configured origins only, with credentials. There is no wildcard: an origin is either listed
 * exactly or gets no CORS headers, and its preflight is refused outright.
 */
export function corsPolicy(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  const handler = cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'apollo-require-preflight', 'x-apollo-operation-name'],
    maxAge: 600,
  });
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (req.method === 'OPTIONS' && origin !== undefined && !allowed.has(origin) && !isSameOrigin(origin, req.headers)) {
      refuse(res);
      return;
    }
    handler(req, res, next);
  };
}

/**
 * CSRF defence in depth, beside SameSite cookies and Apollo's csrfPrevention: a state-changing request that a
 * browser marks as cross-origin (Origin header, or Sec-Fetch-Site: cross-site when Origin is missing) is
 * refused unless its origin is configured. Clients that are not browsers send neither header and pass.
 * Login is included: a forged cross-site login would sign the victim into the attacker's account.
 */
export function originCheck(allowedOrigins: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      next();
      return;
    }
    const origin = req.headers.origin;
    const crossSite = req.headers['sec-fetch-site'] === 'cross-site';
    const ok = origin === undefined ? !crossSite : allowed.has(origin) || isSameOrigin(origin, req.headers);
    if (ok) next();
    else refuse(res);
  };
}

/** Same origin as far as the server can tell: the Origin's host:port is the Host the request was sent to. */
export function isSameOrigin(origin: string, headers: IncomingHttpHeaders): boolean {
  if (origin === 'null' || headers.host === undefined) return false;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

function refuse(res: Parameters<RequestHandler>[1]): void {
  res.status(403).json({ errors: [{ message: publicMessage(ErrorCode.CSRF_REJECTED), extensions: { code: ErrorCode.CSRF_REJECTED } }] });
}
