import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../../src/config/config.js';
import { configProblems, randomSecret } from '../support/config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-insecure-dev-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const problemsFor = (env: Env): readonly string[] => configProblems(() => loadConfig(env));

const hostWarnings = (warnings: readonly string[]): string[] => warnings.filter((warning) => warning.includes('not a loopback address'));

describe('a gateway started with nothing configured', () => {
  it.each(['0.0.0.0', '::', '192.0.2.10', '2001:db8::10', 'gateway.example.com'])(
    'refuses to listen on %s, with how to fix it, and writes no generated secret',
    (host) => {
      const problems = problemsFor({ DATA_DIR: dataDir, HOST: host });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^HOST: /);
      for (const fix of ['NODE_ENV=production', 'HOST=127.0.0.1', 'ALLOW_INSECURE_DEV=true']) expect(problems[0]).toContain(fix);
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );

  it('starts on a non-loopback address with ALLOW_INSECURE_DEV=true, with one clear warning', () => {
    const config = loadConfig({ DATA_DIR: dataDir, HOST: '0.0.0.0', ALLOW_INSECURE_DEV: 'true' });
    expect(config.env).toBe('development');
    expect(hostWarnings(config.warnings)).toHaveLength(1);
    expect(hostWarnings(config.warnings)[0]).toContain('ALLOW_INSECURE_DEV');
  });

  it.each(['127.0.0.1', '127.0.0.2', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST'])('starts on loopback %s without a warning', (host) => {
    const config = loadConfig({ DATA_DIR: dataDir, HOST: host });
    expect(hostWarnings(config.warnings)).toEqual([]);
  });

  it.each<[string, Env]>([
    ['NODE_ENV', { NODE_ENV: 'development' }],
    ['MONGODB_URI', { MONGODB_URI: 'mongodb://127.0.0.1:27017/app' }],
    ['the secrets', { JWT_SECRET: randomSecret(), REFRESH_TOKEN_HASH_SECRET: randomSecret() }],
  ])('starts on a non-loopback address without the warning when %s is given (somebody configured it)', (_name, set) => {
    const config = loadConfig({ DATA_DIR: dataDir, HOST: '0.0.0.0', ...set });
    expect(hostWarnings(config.warnings)).toEqual([]);
  });

  it('is refused by the real entry point: exit 1 with the fix on stderr, nothing listening', { timeout: 30_000 }, async () => {
    const child = spawn(TSX, ['src/main.ts'], { cwd: ROOT, env: { PATH: process.env['PATH'], HOST: '0.0.0.0', PORT: '0', DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('ALLOW_INSECURE_DEV=true');
    expect(output).not.toContain('listening');
  });
});
