import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/**
 * The pages behind the links in account mail, served in every environment (they are how people reset a
 * password), whatever PLAYGROUND_ENABLED says. Like the playground they load nothing from elsewhere, and
 * their CSP is stricter still: one script and one stylesheet from this origin, requests to this origin, no
 * inline anything (the pages have no inline script or style), no framing, no native form posts (the script
 * sends the form; without it a password could never leave in a URL).
 */
export const ACCOUNT_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const RESET_PASSWORD_PAGE = '/account/reset-password';
export const VERIFY_EMAIL_PAGE = '/account/verify-email';

/** pages/account of the project, found from this module whether it runs from src/ or from a build under dist/. */
export function accountPagesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'pages', 'account');
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), 'pages', 'account');
    dir = parent;
  }
}

export function accountPages(options: { dir?: string } = {}): Router {
  const dir = options.dir ?? accountPagesDir();
  // Strict: the pages load their assets by relative path, which a trailing slash would break.
  const router = express.Router({ strict: true });
  const page = (file: string): express.RequestHandler => (_req, res) => {
    // no-store: the page is tiny, and a cached copy is one more place a token-bearing URL could be tied to.
    res.set({ 'Content-Security-Policy': ACCOUNT_PAGE_CSP, 'Cache-Control': 'no-store' });
    res.sendFile(join(dir, file));
  };
  router.get(RESET_PASSWORD_PAGE, page('reset-password.html'));
  router.get(VERIFY_EMAIL_PAGE, page('verify-email.html'));
  router.use(
    '/account/assets',
    express.static(join(dir, 'assets'), {
      index: false,
      redirect: false,
      // Names are not hashed: revalidate, so a fix reaches browsers at once.
      cacheControl: false,
      setHeaders: (res) => res.set({ 'Content-Security-Policy': ACCOUNT_PAGE_CSP, 'Cache-Control': 'no-cache' }),
    }),
  );
  return router;
}
