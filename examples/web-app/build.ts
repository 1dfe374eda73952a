/**
 * Builds the web app with Vite into examples/web-app/dist, unless the bundle already matches its sources and
 * the lock file (a stamp in dist records their hash). `npx tsx examples/web-app/build.ts [--force]`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
export const WEB_APP_DIST = join(here, 'dist');
const stampFile = join(WEB_APP_DIST, '.build-stamp');

function sourceHash(): string {
  const hash = createHash('sha256');
  const files = [...readdirSync(join(here, 'app')).map((file) => join('app', file)), 'vite.config.ts'].sort();
  for (const file of files) hash.update(`${file}\0${readFileSync(join(here, file))}\0`);
  hash.update(readFileSync(join(root, 'package-lock.json')));
  return hash.digest('hex');
}

/** Builds unless the bundle is up to date; true when it built. */
export async function buildWebApp(options: { force?: boolean } = {}): Promise<boolean> {
  const hash = sourceHash();
  if (!options.force && existsSync(join(WEB_APP_DIST, 'index.html')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === hash) return false;
  const vite = await import('vite');
  await vite.build({ configFile: join(here, 'vite.config.ts') });
  writeFileSync(stampFile, `${hash}\n`);
  return true;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const built = await buildWebApp({ force: process.argv.includes('--force') });
  console.log(built ? `web app: built into examples/web-app/dist in ${Date.now() - started} ms` : 'web app: up to date');
}
