import type { IncomingHttpHeaders } from 'node:http';
import cors from 'cors';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { ErrorCode, publicMessage } from '../errors.js';

/**
 * Headers on every response. The API serves JSON only, so its Content-Security-Policy allows nothing at all:
 * no script, no framing (clickjacking), no form posts from its own pages.
 */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
  });
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
