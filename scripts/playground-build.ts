/**
 * Builds the playground (GraphiQL, from npm) into playground/dist with Vite. Runs before `npm start`, so it
 * skips the build when the bundle matches its sources and the lock file (a stamp in dist records their hash);
 * --force builds anyway. Without Vite installed (`npm ci --omit=dev`) it says so and leaves the gateway to
 * answer that the playground is not built.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const playgroundDir = join(root, 'playground');
const distDir = join(playgroundDir, 'dist');
const stampFile = join(distDir, '.build-stamp');
const inputs = ['index.html', 'main.tsx', 'style.css', 'vite.config.ts', 'tsconfig.json']
  .map((file) => `playground/${file}`)
  .concat(['tsconfig.json', 'package-lock.json']);

function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of inputs) {
    const path = join(root, file);
    hash.update(`${file}\0${existsSync(path) ? readFileSync(path) : ''}\0`);
  }
  return hash.digest('hex');
}

export function playgroundIsFresh(): boolean {
  return existsSync(join(distDir, 'index.html')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === sourceHash();
}

/** Builds unless the bundle is up to date; true when it built. */
export async function buildPlayground(options: { force?: boolean } = {}): Promise<boolean> {
  if (!options.force && playgroundIsFresh()) return false;
  const vite = await import('vite');
  await vite.build({ configFile: join(playgroundDir, 'vite.config.ts') });
  writeFileSync(stampFile, `${sourceHash()}\n`);
  return true;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await import('vite');
  } catch {
    console.warn('playground: Vite is not installed (npm ci --omit=dev?); skipping the build.');
    process.exit(0);
  }
  const started = Date.now();
  const built = await buildPlayground({ force: process.argv.includes('--force') });
  console.log(built ? `playground: built into playground/dist in ${Date.now() - started} ms` : 'playground: up to date');
}
