import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionString } from 'mongodb-connection-string-url';
import { inject } from 'vitest';
import { ConfigError, loadConfig, type Config, type Env } from '../../src/config/config.js';

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The run's database server with a database name of its own, so test files never see each other's data. */
export function uniqueDatabaseUri(): string {
  const uri = new ConnectionString(inject('mongodbUri'));
  uri.pathname = `/portcullis_test_${randomBytes(6).toString('hex')}`;
  return uri.toString();
}

/** A complete, valid test configuration; `overrides` replace or (with undefined) remove variables. */
export function testConfig(overrides: Env = {}): Config {
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    MONGODB_URI: uniqueDatabaseUri(),
    JWT_SECRET: randomSecret(),
    REFRESH_TOKEN_HASH_SECRET: randomSecret(),
    DATA_DIR: mkdtempSync(join(tmpdir(), 'portcullis-test-')),
    LOG_LEVEL: 'silent',
    ...overrides,
  };
  return loadConfig(env);
}

/** The problems a configuration is refused for (none when `load` succeeds); any other error is thrown on. */
export function configProblems(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
