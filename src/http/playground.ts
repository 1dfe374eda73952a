import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type RequestHandler, type Router } from 'express';

/**
 * The playground page and its assets: GraphiQL bundled by `npm run playground:build` into playground/dist.
 * Everything it loads comes from this origin, and its CSP says so: scripts, workers (Monaco's language
 * services) and requests from 'self' only; no script runs inline. Styles also allow 'unsafe-inline', because
 * Monaco and GraphiQL's UI library insert <style> elements at run time. Fonts and images also allow data:,
 * because GraphiQL's own stylesheet embeds its fonts and icons as data: URLs (bundled bytes, no request).
 */
export const PLAYGROUND_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PLAYGROUND_PATH = '/playground';

const OFF_MESSAGE =
  'The GraphQL playground is off (PLAYGROUND_ENABLED=false). Send GraphQL requests as POST with content-type application/json.\n';
const NOT_BUILT_MESSAGE = 'The GraphQL playground has not been built: run `npm run playground:build` and reload.\n';

/** playground/dist of the project, found from this module whether it runs from src/ or from a build under dist/. */
export function playgroundDistDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'playground', 'dist');
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'playground', 'dist');
    dir = parent;
  }
}

/**
 * A browser navigating to the endpoint (it prefers HTML over JSON and asks no query), as opposed to a GraphQL
 * GET request, which keeps going to Apollo.
 */
export function wantsPlayground(req: Request): boolean {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || req.query['query'] !== undefined) return false;
  return req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

/**
 * GET /playground (and its assets) when enabled; when off, a short plain-text answer. `page` serves the page
 * itself, for GET /graphql from a browser.
 */
export function playground(options: { enabled: boolean; distDir?: string }): { router: Router; page: RequestHandler } {
  const distDir = options.distDir ?? playgroundDistDir();
  const indexFile = join(distDir, 'index.html');
  const router = express.Router();

  const plain = (status: number, text: string): RequestHandler => (_req, res) => {
    res.status(status).type('text/plain').set('Cache-Control', 'no-store').send(text);
  };

  if (!options.enabled) {
    const off = plain(404, OFF_MESSAGE);
    router.get([PLAYGROUND_PATH, `${PLAYGROUND_PATH}/*rest`], off);
    return { router, page: off };
  }

  const page: RequestHandler = (req, res, next) => {
    if (!existsSync(indexFile)) {
      plain(503, NOT_BUILT_MESSAGE)(req, res, next);
      return;
    }
    res.set({ 'Content-Security-Policy': PLAYGROUND_CSP, 'Cache-Control': 'no-cache' });
    res.sendFile(indexFile);
  };
  router.get([PLAYGROUND_PATH, `${PLAYGROUND_PATH}/`], page);
  // Hashed file names: cacheable for good. A miss falls through to the gateway's JSON 404.
  // Workers take their CSP from their own script's response, so the assets carry the page's CSP too.
  router.use(
    `${PLAYGROUND_PATH}/assets`,
    express.static(join(distDir, 'assets'), {
      immutable: true,
      maxAge: '1y',
      index: false,
      redirect: false,
      setHeaders: (res) => res.setHeader('Content-Security-Policy', PLAYGROUND_CSP),
    }),
  );
  return { router, page };
}
