import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Env } from '../../src/config/config.js';
import { randomSecret } from '../support/config.js';

const base = (): Record<string, string> => ({ NODE_ENV: 'test', DATA_DIR: '/tmp/portcullis-gateway-config', JWT_SECRET: randomSecret(), REFRESH_TOKEN_HASH_SECRET: randomSecret() });

function problemsOf(env: Env): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('UPSTREAM_MAX_RESPONSE_BYTES', () => {
  it('defaults to 8 MiB and takes a whole number of bytes within bounds', () => {
    expect(loadConfig(base()).upstreams.maxResponseBytes).toBe(8 * 1024 * 1024);
    expect(loadConfig({ ...base(), UPSTREAM_MAX_RESPONSE_BYTES: '65536' }).upstreams.maxResponseBytes).toBe(65_536);
  });

  it('refuses values that are not a whole number of bytes from 1024 to 256 MiB, naming the variable', () => {
    for (const value of ['0', '1023', '1.5', 'lots', String(256 * 1024 * 1024 + 1)]) {
      const problems = problemsOf({ ...base(), UPSTREAM_MAX_RESPONSE_BYTES: value });
      expect(problems, value).toHaveLength(1);
      expect(problems[0], value).toMatch(/^UPSTREAM_MAX_RESPONSE_BYTES: /);
    }
  });
});
