import { hkdfSync } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/config.js';
import { operatorEnv, removeOperatorEnvs, runCli } from '../support/cli.js';
import { randomSecret } from '../support/config.js';

const CLI = 'src/cli/identity-key.ts';
const UPSTREAMS = 'shop=http://127.0.0.1:4001/graphql,billing=https://billing.internal/graphql';

afterAll(removeOperatorEnvs);

/** The derivation as docs/keys.md states it, computed with node:crypto's own HKDF rather than the gateway's code. */
function documentedKey(jwtSecret: string, upstream: string): string {
  const info = Buffer.from(`portcullis/identity-key/v1\0${upstream}`);
  return Buffer.from(hkdfSync('sha256', Buffer.from(jwtSecret, 'base64url'), Buffer.alloc(0), info, 32)).toString('base64url');
}

function env(overrides: Env = {}): Env {
  return operatorEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: randomSecret(), UPSTREAMS, ...overrides });
}

describe('identity:key CLI', () => {
  it('prints only the upstream’s key: HKDF-SHA256 of JWT_SECRET and its name, one per upstream, never a secret', { timeout: 60_000 }, async () => {
    const configured = env();
    const [shop, billing] = await Promise.all([runCli(CLI, ['--upstream', 'shop'], { env: configured }), runCli(CLI, ['--upstream', 'billing'], { env: configured })]);
    for (const result of [shop, billing]) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
      for (const secret of [configured['JWT_SECRET']!, configured['REFRESH_TOKEN_HASH_SECRET']!]) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    }
    expect(shop.stdout.trim()).toBe(documentedKey(configured['JWT_SECRET']!, 'shop'));
    expect(billing.stdout.trim()).toBe(documentedKey(configured['JWT_SECRET']!, 'billing'));
    expect(shop.stdout).not.toBe(billing.stdout);
  });

  it('refuses an upstream UPSTREAMS does not name, with exit code 2 and the names it does', { timeout: 30_000 }, async () => {
    const result = await runCli(CLI, ['--upstream', 'admin'], { env: env() });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('"admin"');
    expect(result.stderr).toContain('shop, billing');
  });

  it('refuses a key-pair gateway, whose upstreams hold only public keys, with exit code 2', { timeout: 30_000 }, async () => {
    const result = await runCli(CLI, ['--upstream', 'shop'], { env: env({ JWT_ALGORITHM: 'EdDSA', JWT_SECRET: undefined }) });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('JWT_ALGORITHM is EdDSA');
  });

  it('refuses a missing --upstream or an unknown option with exit code 2 and its usage', { timeout: 30_000 }, async () => {
    const [missing, unknown] = await Promise.all([runCli(CLI, [], { env: env() }), runCli(CLI, ['--upstream', 'shop', '--all'], { env: env() })]);
    for (const result of [missing, unknown]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('Usage: npm run --silent identity:key -- --upstream NAME');
    }
  });

  it('refuses an invalid configuration with exit code 1, without echoing the secret', { timeout: 30_000 }, async () => {
    const weak = 'aa'.repeat(32);
    const result = await runCli(CLI, ['--upstream', 'shop'], { env: env({ JWT_SECRET: weak }) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('JWT_SECRET');
    expect(result.stderr).not.toContain(weak);
  });
});
