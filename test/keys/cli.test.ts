import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Env } from '../../src/config/config.js';
import { parseSecret } from '../../src/config/secret.js';
import { CLI_TIMEOUT_MS, operatorEnv, removeOperatorEnvs, runCli } from '../support/cli.js';
import { randomSecret } from '../support/config.js';
import { startGateway } from '../support/gateway.js';
import { jwksKids } from './support.js';

/** What an operator would export for a key-pair gateway. */
function keyPairEnv(overrides: Env = {}): Env {
  return operatorEnv({ JWT_ALGORITHM: 'EdDSA', ...overrides });
}

afterAll(removeOperatorEnvs);

describe('keys:generate CLI', () => {
  it('prints two NAME=value lines of distinct secrets that the config accepts', { timeout: CLI_TIMEOUT_MS }, async () => {
    const result = await runCli('src/cli/keys-generate.ts', [], { env: { PATH: process.env['PATH'] } });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const values = new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    expect([...values.keys()]).toEqual(['JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET']);
    for (const value of values.values()) expect(parseSecret(value).ok).toBe(true);
    expect(values.get('JWT_SECRET')).not.toBe(values.get('REFRESH_TOKEN_HASH_SECRET'));
  });

  it('exits with 2 and prints no secret for an unknown --name', { timeout: CLI_TIMEOUT_MS }, async () => {
    const result = await runCli('src/cli/keys-generate.ts', ['--name', 'FOO'], { env: { PATH: process.env['PATH'] } });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });
});

describe('keys:rotate CLI', () => {
  it('exits with 2 and writes nothing when JWT_ALGORITHM is HS256', { timeout: CLI_TIMEOUT_MS }, async () => {
    const env = keyPairEnv({ JWT_ALGORITHM: 'HS256', JWT_SECRET: randomSecret() });
    const result = await runCli('src/cli/keys-rotate.ts', [], { env });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const connection = await mongoose.createConnection(env['MONGODB_URI']!).asPromise();
    try {
      expect(await connection.db!.collection('signing_keys').countDocuments()).toBe(0);
    } finally {
      await connection.close();
    }
  });

  it('prints the rotation plan as JSON, and a gateway started on the same environment publishes the new key', { timeout: 60_000 }, async () => {
    const env = keyPairEnv({ KEY_ROTATION_LEAD_SECONDS: '120' });
    const startedAt = Date.now();
    const result = await runCli('src/cli/keys-rotate.ts', [], { env });
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as { kid: string; publishedAt: string; activatesAt: string; retiring: Array<{ kid: string; retiresAt: string }> };
    expect(plan.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const publishedAt = Date.parse(plan.publishedAt);
    expect(publishedAt).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(Date.parse(plan.activatesAt) - publishedAt).toBe(120_000);
    // The key the first start created retires once its last token has expired.
    expect(plan.retiring).toEqual([{ kid: expect.not.stringMatching(plan.kid), retiresAt: new Date(Date.parse(plan.activatesAt) + 905_000).toISOString() }]);

    const gateway = await startGateway({ config: loadConfig(env) });
    try {
      expect(await jwksKids(gateway)).toEqual([plan.kid, plan.retiring[0]!.kid].sort());
    } finally {
      await gateway.stop();
    }
  });
});
