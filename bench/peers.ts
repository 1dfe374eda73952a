import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { linesOf, trackChild } from './gateway.js';
import { sleep } from './stats.js';

/**
 * Hive Gateway (@graphql-hive/gateway, proxy mode) for the peers figure. It lives in bench/peers with a lock of
 * its own, apart from Portcullis's dependencies: its @whatwg-node packages want Node >= 22.15 and would bring
 * EBADENGINE warnings back to the main install on Node 20. `npm run bench -- --only peers` installs it on
 * demand (`npm ci --prefix bench/peers`); when that fails the Hive rows are skipped, saying so. The smoke run
 * (CI) does not run this figure.
 */
export interface PeerProcess {
  readonly name: string;
  readonly origin: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export type HiveMode = 'dedupe on' | 'dedupe off' | 'jwt cookie';

const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url));
const HIVE_BIN = `${PEERS_DIR}node_modules/@graphql-hive/gateway/dist/bin.js`;

/** Installs bench/peers when it is missing; false (with the reason printed) when it cannot be had. */
export async function ensureHiveGateway(log: (message: string) => void): Promise<boolean> {
  if (existsSync(HIVE_BIN)) return true;
  log('installing Hive Gateway for the peers figure: npm ci --prefix bench/peers (its own lock; a minute or two)');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', resolve);
    child.once('error', () => resolve(-1));
  });
  if (code !== 0 || !existsSync(HIVE_BIN)) {
    log(`could not install bench/peers (npm ci exited ${String(code)}): the Hive Gateway rows are skipped`);
    return false;
  }
  return true;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The upstream's SDL as a file: in production it answers no introspection, only `{ _service { sdl } }` (what
 * Portcullis reads), so Hive Gateway is given the schema with `--schema` instead of introspecting.
 */
async function upstreamSdlFile(upstreamUrl: string): Promise<string> {
  const response = await fetch(upstreamUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ _service { sdl } }"}' });
  const reply = (await response.json()) as { data?: { _service?: { sdl?: string } } };
  const sdl = reply.data?._service?.sdl;
  if (!sdl) throw new Error(`the upstream gave no SDL: HTTP ${response.status}`);
  const path = join(mkdtempSync(join(tmpdir(), 'portcullis-bench-peers-')), 'upstream.graphql');
  writeFileSync(path, sdl);
  return path;
}

export async function startHiveGateway(options: { mode: HiveMode; upstreamUrl: string; jwtSecret: string }): Promise<PeerProcess> {
  const port = await freePort();
  const schema = await upstreamSdlFile(options.upstreamUrl);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    NODE_ENV: 'production',
    ...(options.mode === 'dedupe off' && { PEER_DEDUPLICATE: 'off' }),
    ...(options.mode === 'jwt cookie' && { PEER_JWT_SECRET: options.jwtSecret }),
  };
  const child = spawn(process.execPath, [HIVE_BIN, 'proxy', options.upstreamUrl, '--schema', schema, '--config-path', 'gateway.config.mjs', '--host', '127.0.0.1', '--port', String(port), '--disable-websockets'], {
    cwd: PEERS_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  const output: string[] = [];
  const keep = (line: string): void => {
    output.push(line);
    if (output.length > 40) output.shift();
  };
  linesOf(child.stdout, keep);
  linesOf(child.stderr, keep);
  const origin = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  // Ready once it answers a query (its schema comes from the upstream's introspection).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Hive Gateway (${options.mode}) exited with ${String(child.exitCode)}:\n${output.join('\n')}`);
    const status = await fetch(`${origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' }).then(
      (response) => response.status,
      () => 0,
    );
    // 401 with the JWT plugin and no cookie: listening, and refusing as configured.
    if (status === 200 || status === 401) break;
    if (Date.now() > until) throw new Error(`Hive Gateway (${options.mode}) not answering within 60 s:\n${output.join('\n')}`);
    await sleep(200);
  }
  return {
    name: `Hive Gateway, ${options.mode}`,
    origin,
    pid: child.pid ?? -1,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
