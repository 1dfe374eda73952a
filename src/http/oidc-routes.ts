import { parse, serialize } from 'cookie';
import express, { type Request, type Response, type Router } from 'express';
import type { AuthService, ClientInfo, IssuedSession } from '../auth/auth-service.js';
import type { OidcService } from '../auth/oidc/oidc-service.js';
import { withError } from '../auth/oidc/return-to.js';
import { ErrorCode, publicMessage } from '../errors.js';
import { readAccessToken } from './cookies.js';

/**
 * The flow cookie: a random key to the server-side flow record. `__Host-` (Secure, Path=/, no Domain) so no
 * subdomain can plant one; HttpOnly; SameSite=Lax so it comes back on the provider's top-level redirect.
 */
export const OIDC_FLOW_COOKIE = '__Host-portcullis-oidc';

export interface OidcRoutesDeps {
  readonly oidc: OidcService;
  readonly auth: Pick<AuthService, 'authenticate'>;
  readonly clientInfo: (req: Request) => ClientInfo;
  readonly sessionCookies: (session: IssuedSession) => string[];
  /** Pages on these origins may send a signed-in browser to `?link=1`. */
  readonly allowedOrigins: readonly string[];
}

/**
 * `?link=1` attaches whatever identity the browser brings back from the provider to the signed-in account, so
 * another site must not start it (it could pair it with a login CSRF at the provider). The start is a top-level
 * GET, which the access cookie (SameSite=Lax) accompanies from anywhere: a cross-site navigation is accepted
 * only from a page on an allowed origin (its Referer; browsers send the origin at least). Browsers without
 * Fetch Metadata send no Sec-Fetch-Site and are let through, as their cookies are.
 */
function linkStartedByTrustedPage(req: Request, allowedOrigins: readonly string[]): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site === undefined || site === 'same-origin' || site === 'same-site' || site === 'none') return true;
  const referer = req.headers.referer;
  if (referer === undefined) return false;
  try {
    return allowedOrigins.includes(new URL(referer).origin);
  } catch {
    return false;
  }
}

/** GET /auth/oidc/:name/start and /auth/oidc/:name/callback (docs/sign-in.md). */
export function oidcRoutes(deps: OidcRoutesDeps): Router {
  const router = express.Router();
  const { oidc } = deps;

  router.use('/auth/oidc', (_req, res, next) => {
    // Redirects carrying codes and fresh cookies: no cache may keep them.
    res.set({ 'Cache-Control': 'no-store' });
    next();
  });

  const knownProvider = (req: Request, res: Response): string | undefined => {
    const name = req.params['name'];
    if (typeof name === 'string' && oidc.hasProvider(name)) return name;
    res.status(404).json({ errors: [{ message: publicMessage(ErrorCode.NOT_FOUND), extensions: { code: ErrorCode.NOT_FOUND } }] });
    return undefined;
  };

  router.get('/auth/oidc/:name/start', async (req, res) => {
    const provider = knownProvider(req, res);
    if (provider === undefined) return;
    const link = req.query['link'] === '1';
    if (link && !linkStartedByTrustedPage(req, deps.allowedOrigins)) {
      res.redirect(303, withError('/', ErrorCode.CSRF_REJECTED));
      return;
    }
    // The access cookie (SameSite=Lax, Path=/) comes on this top-level navigation: it says who links.
    const viewer = link ? await deps.auth.authenticate(readAccessToken(req.headers)) : ({ kind: 'guest' } as const);
    const outcome = await oidc.start({ provider, returnTo: req.query['returnTo'], link, viewer, client: deps.clientInfo(req) });
    if (outcome.kind === 'failed') {
      res.redirect(303, withError(outcome.returnTo, outcome.code));
      return;
    }
    res.append(
      'Set-Cookie',
      serialize(OIDC_FLOW_COOKIE, outcome.flowKey, { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: outcome.maxAgeSeconds }),
    );
    res.redirect(302, outcome.authorizationUrl);
  });

  router.get('/auth/oidc/:name/callback', async (req, res) => {
    const provider = knownProvider(req, res);
    if (provider === undefined) return;
    const cookieHeader = req.headers.cookie;
    const flowKey = cookieHeader === undefined ? undefined : parse(cookieHeader)[OIDC_FLOW_COOKIE];
    const query = new URLSearchParams(req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '');
    const outcome = await oidc.callback({ provider, callbackQuery: query, flowKey, client: deps.clientInfo(req) });
    // Spent either way: the cookie goes with the flow.
    res.append('Set-Cookie', serialize(OIDC_FLOW_COOKIE, '', { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: 0, expires: new Date(0) }));
    if (outcome.kind === 'failed') {
      res.redirect(303, withError(outcome.returnTo, outcome.code));
      return;
    }
    if (outcome.kind === 'signed-in') res.append('Set-Cookie', deps.sessionCookies(outcome.session));
    res.redirect(303, outcome.returnTo);
  });

  return router;
}
