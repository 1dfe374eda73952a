import { expressMiddleware } from '@as-integrations/express5';
import type { ApolloServer } from '@apollo/server';
import type { JWK } from 'jose';
import type { Registry } from 'prom-client';
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import proxyaddr from 'proxy-addr';
import type { AuthService, ClientInfo } from '../auth/auth-service.js';
import { ErrorCode, publicMessage } from '../errors.js';
import type { Endpoint, GatewayContext, RequestCredentials } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import { accountPages } from './account-pages.js';
import { withFastRoute, type RequestListener } from './front.js';
import type { OidcService } from '../auth/oidc/oidc-service.js';
import { oidcRoutes } from './oidc-routes.js';
import { passThroughRoute, takeHandedOverContext, type PassThroughRoute } from './pass-through.js';
import { playground, wantsPlayground } from './playground.js';
import { corsPolicy, originCheck, securityHeaders } from './security.js';
import {
  API_PATH,
  AUTH_PATH,
  STREAM_PATH,
  clearedSessionCookies,
  clearedShadowRefreshCookies,
  passkeyCookie,
  readAccessToken,
  readPasskeyCookie,
  readRefreshCookie,
  refreshCookieCount,
  sessionCookies,
} from './cookies.js';

/** GraphQL requests are small; anything larger is refused before it is parsed. */
const MAX_BODY = '64kb';
const MAX_USER_AGENT = 256;

export interface HttpAppDeps {
  readonly apollo: ApolloServer<GatewayContext>;
  readonly contextFor: (request: RequestCredentials) => Promise<GatewayContext>;
  /** Database reachable and revocation view fresh: what /readyz reports. */
  readonly isReady: () => Promise<boolean>;
  /** Served at GET /metrics when present. */
  readonly metrics: Registry | undefined;
  readonly allowedOrigins: readonly string[];
  /** Reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For is believed; empty: none. */
  readonly trustedProxies: readonly string[];
  /** The public signing keys published now (none for HS256). */
  readonly jwks: () => JWK[];
  readonly jwksMaxAgeSeconds: number;
  /** Serve GraphiQL at /playground, and at /graphql to a browser. */
  readonly playgroundEnabled: boolean;
  /** GraphQL over SSE (src/live/), served at /graphql/stream when present. */
  readonly liveStream?: ((request: Request, response: Response) => Promise<void>) | undefined;
  readonly logger: Logger;
  readonly now: () => number;
  /** Sign-in through OpenID Connect providers: /auth/oidc/<name>/start and /callback. */
  readonly oidc: OidcService;
  /** Reads the access token of a /auth/oidc/<name>/start?link=1 request. */
  readonly authenticate: AuthService['authenticate'];
  /** Gateway mode: the pass-through for POST /graphql (src/http/pass-through.ts). */
  readonly passThrough?: Omit<PassThroughRoute, 'contextOf'>;
}

export function createHttpApp(deps: HttpAppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  // Every GraphQL answer is no-store; an ETag would only invite revalidation requests.
  app.set('etag', false);
  // The client's address (req.ip) is the socket's, or, from a trusted proxy, the nearest X-Forwarded-For entry
  // that is not itself a trusted proxy: Express's own reading, through proxy-addr. An untrusted peer's header is
  // ignored, so nobody picks their own address by sending one.
  if (deps.trustedProxies.length > 0) app.set('trust proxy', proxyaddr.compile([...deps.trustedProxies]));
  const security = securityHeaders();
  app.use(security);

  const contextOf = (endpoint: Endpoint, req: Request, res: Response): Promise<GatewayContext> => {
    const shadowed = refreshCookieCount(req.headers) > 1;
    return deps.contextFor({
      endpoint,
      accessToken: readAccessToken(req.headers),
      refreshCookie: shadowed ? undefined : readRefreshCookie(req.headers),
      refreshCookieShadowed: shadowed,
      passkeyCookie: readPasskeyCookie(req.headers),
      client: clientInfo(req),
      transport: {
        setSessionCookies: (session) => {
          res.append('Set-Cookie', sessionCookies(session, deps.now()));
        },
        clearSessionCookies: () => {
          res.append('Set-Cookie', shadowed ? [...clearedSessionCookies(), ...clearedShadowRefreshCookies(req.hostname || '')] : clearedSessionCookies());
        },
        setPasskeyCookie: (value, maxAgeSeconds) => {
          res.append('Set-Cookie', passkeyCookie(value, maxAgeSeconds));
        },
      },
    });
  };
  const graphql = (endpoint: Endpoint): express.RequestHandler =>
    expressMiddleware(deps.apollo, {
      // The pass-through may have made this request's context already (it then declined the operation).
      context: async ({ req, res }) => (endpoint === 'api' && takeHandedOverContext(req)) || contextOf(endpoint, req, res),
    });

  const noStore: express.RequestHandler = (_req, res, next) => {
    // Answers are per user and may carry tokens: no cache anywhere may keep them.
    res.set({ 'Cache-Control': 'no-store' });
    next();
  };
  const json = express.json({ limit: MAX_BODY });
  const guard = [noStore, corsPolicy(deps.allowedOrigins), originCheck(deps.allowedOrigins), json];
  const passThrough = deps.passThrough;
  const api = passThrough ? [passThroughRoute({ ...passThrough, contextOf: (req, res) => contextOf('api', req, res) }), graphql('api')] : [graphql('api')];
  // POST /graphql, nearly every request, is matched first instead of after every other route; the routes below
  // serve no POST at this path (the playground answers GETs only), and other methods still reach app.all below.
  app.post(API_PATH, ...guard, ...api);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ready = await deps.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'unavailable' });
  });

  app.get('/.well-known/jwks.json', (_req, res) => {
    // Public keys only, for other services (not browsers) to verify access tokens; cacheable within the
    // rotation lead time.
    res.set({ 'Cache-Control': `public, max-age=${deps.jwksMaxAgeSeconds}`, 'Cross-Origin-Resource-Policy': 'cross-origin' });
    res.json({ keys: deps.jwks() });
  });

  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.metrics());
    });
  }

  // The playground's page and assets carry their own CSP (same-origin only); everything else keeps 'none'.
  const playgroundRoutes = playground({ enabled: deps.playgroundEnabled });
  app.use(playgroundRoutes.router);
  app.get(API_PATH, (req, res, next) => {
    if (wantsPlayground(req)) playgroundRoutes.page(req, res, next);
    else next();
  });

  // The pages behind the links in account mail: served in production too, independent of the playground.
  app.use(accountPages());
  app.use(oidcRoutes({ oidc: deps.oidc, auth: { authenticate: deps.authenticate }, clientInfo, sessionCookies: (session) => sessionCookies(session, deps.now()), allowedOrigins: deps.allowedOrigins }));

  app.all(API_PATH, ...guard, ...api);
  app.all(AUTH_PATH, ...guard, graphql('auth'));
  const liveStream = deps.liveStream;
  if (liveStream) {
    // The live part checks the Origin itself (GET included: a cookie-authenticated stream is a read of the user's
    // data); CORS answers allowed origins' preflights.
    app.all(STREAM_PATH, noStore, corsPolicy(deps.allowedOrigins), json, (req, res, next) => {
      liveStream(req, res).catch(next);
    });
  }

  const notFound = (_req: Request, res: Response): void => {
    res.status(404).json({ errors: [{ message: publicMessage(ErrorCode.NOT_FOUND), extensions: { code: ErrorCode.NOT_FOUND } }] });
  };
  const onError = httpErrorHandler(deps.logger);
  app.use(notFound);
  app.use(onError);
  // The same handlers as app.post(API_PATH) above, after the app-wide security headers, without the router.
  return withFastRoute(app, { method: 'POST', path: API_PATH, handlers: [security, ...guard, ...api], onError, notFound });
}

function clientInfo(req: Request): ClientInfo {
  const userAgent = req.headers['user-agent'];
  return {
    userAgent: typeof userAgent === 'string' ? userAgent.slice(0, MAX_USER_AGENT) : null,
    address: req.ip ?? req.socket.remoteAddress ?? null,
  };
}

/**
 * Errors raised before GraphQL runs (a body that is not JSON, too large, …) answer in the GraphQL error shape
 * with a status and a code, and never with a stack trace or the offending body.
 */
function httpErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    const status = (error as { status?: unknown }).status;
    const type = (error as { type?: unknown }).type;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const tooLarge = type === 'entity.too.large';
      res.status(status).json({
        errors: [
          {
            message: tooLarge ? publicMessage(ErrorCode.PAYLOAD_TOO_LARGE) : 'The request body could not be read.',
            extensions: { code: tooLarge ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.BAD_REQUEST },
          },
        ],
      });
      return;
    }
    logger.error({ err: error }, 'unexpected error in the HTTP layer');
    res.status(500).json({ errors: [{ message: publicMessage(ErrorCode.INTERNAL_SERVER_ERROR), extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }] });
  };
}
