/**
 * A tiny static server for the web app, on an origin of its own (list it in the gateway's ALLOWED_ORIGINS):
 *
 *   GATEWAY_URL=http://127.0.0.1:4000 PORT=5173 npx tsx examples/web-app/serve.ts
 *   # gateway: ALLOWED_ORIGINS=http://127.0.0.1:5173 (same host as the gateway, another port: same site,
 *   # so the gateway's SameSite cookies flow; 127.0.0.1 and localhost are different sites)
 *
 * Options: --port N (or PORT), GATEWAY_URL, SHOP=1 when the gateway has the shop upstream behind it.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWebApp, WEB_APP_DIST } from './build.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
};

export interface WebAppSettings {
  readonly gatewayUrl: string;
  readonly shop: boolean;
}

export interface WebAppServer {
  /** http://127.0.0.1:PORT — the app's origin, for ALLOWED_ORIGINS. */
  readonly origin: string;
  readonly server: Server;
  stop(): Promise<void>;
}

/**
 * Serves examples/web-app/dist (built first if stale) and /config.json. `settings` is read on every request
 * for /config.json, so a test can start this server first (its origin goes into the gateway's ALLOWED_ORIGINS)
 * and name the gateway afterwards.
 */
export async function startWebAppServer(options: { port?: number; settings: () => WebAppSettings }): Promise<WebAppServer> {
  await buildWebApp();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app.invalid').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    const settings = options.settings();
    const headers = {
      // Scripts and styles from this origin only, no inline script; requests to this origin and the gateway.
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ${new URL(settings.gatewayUrl).origin} ${new URL(settings.gatewayUrl).origin.replace(/^http/, 'ws')}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    };
    if (path === '/config.json') {
      return void res.writeHead(200, { ...headers, 'content-type': TYPES['.json'] }).end(JSON.stringify(settings));
    }
    // Only files under dist: normalize() resolves "..", and anything that still climbs out is refused.
    const relative = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
    if (relative.startsWith('..') || relative.startsWith('.')) return void res.writeHead(404, headers).end();
    readFile(join(WEB_APP_DIST, relative)).then(
      (body) => res.writeHead(200, { ...headers, 'content-type': TYPES[extname(relative)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404, headers).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    server,
    stop: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function portFromArgs(argv: readonly string[]): number {
  const at = argv.indexOf('--port');
  const text = at >= 0 ? argv[at + 1] : process.env['PORT'];
  const port = Number(text ?? 5173);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`The port must be a whole number from 0 to 65535, got ${String(text)}.`);
  return port;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const settings: WebAppSettings = { gatewayUrl: process.env['GATEWAY_URL'] ?? 'http://127.0.0.1:4000', shop: process.env['SHOP'] === '1' };
  const app = await startWebAppServer({ port: portFromArgs(process.argv.slice(2)), settings: () => settings });
  console.log(`web app on ${app.origin}/ (gateway ${settings.gatewayUrl}; put ${app.origin} in its ALLOWED_ORIGINS)`);
}
