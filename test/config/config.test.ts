import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config, type Env } from '../../src/config/config.js';
import { EXAMPLE_SECRET } from '../../src/config/secret.js';
import { createHmacKeyRing } from '../../src/tokens/keys.js';

const hexSecret = (): string => randomBytes(32).toString('hex');
const base64urlSecret = (): string => randomBytes(32).toString('base64url');

let dataDir: string;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

/** A valid environment with both secrets set; `overrides` replace or (with undefined) remove variables. */
function envWith(overrides: Env = {}): Env {
  return { DATA_DIR: dataDir, JWT_SECRET: base64urlSecret(), REFRESH_TOKEN_HASH_SECRET: base64urlSecret(), ...overrides };
}

/** The problems loadConfig reports for `env`; fails the test when it does not throw a ConfigError. */
function problemsFor(env: Env): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

function names(problems: readonly string[]): string[] {
  return problems.map((problem) => problem.slice(0, problem.indexOf(':')));
}

describe('loadConfig defaults', () => {
  it('listens on 127.0.0.1:4000 with 900 s access tokens when only the secrets are set', () => {
    const config = loadConfig(envWith());
    expect(config.env).toBe('development');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(config.tokens.accessTokenTtlSeconds).toBe(900);
    expect(config.tokens.refreshTokenTtlSeconds).toBe(7 * 86400);
    expect(config.tokens.sessionMaxAgeSeconds).toBe(30 * 86400);
    expect(config.tokens.issuer).toBe('portcullis');
    expect(config.tokens.audience).toBe('portcullis');
    expect(config.signUpEnabled).toBe(false);
    expect(config.logLevel).toBe('info');
    expect(config.database).toEqual({ uri: undefined, name: 'portcullis' });
    expect(config.dataDir).toBe(dataDir);
    expect(config.secretsSource).toBe('environment');
    expect(config.warnings).toEqual([]);
  });

  it('reads explicit values instead of the defaults', () => {
    const config = loadConfig(envWith({ PORT: '8080', HOST: '0.0.0.0', ACCESS_TOKEN_TTL_SECONDS: '60', SIGNUP_ENABLED: '1', LOG_LEVEL: 'silent' }));
    expect(config.http).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.tokens.accessTokenTtlSeconds).toBe(60);
    expect(config.signUpEnabled).toBe(true);
    expect(config.logLevel).toBe('silent');
  });

  it('treats blank values as unset', () => {
    const config = loadConfig(envWith({ PORT: '', HOST: '   ', MONGODB_URI: ' ', NODE_ENV: '', LOG_LEVEL: '\t' }));
    expect(config.http).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(config.env).toBe('development');
    expect(config.database.uri).toBeUndefined();
    expect(config.logLevel).toBe('info');
  });

  it('treats a blank secret as unset, so production refuses it as missing', () => {
    const problems = problemsFor(envWith({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal:27017/app', JWT_SECRET: '  ' }));
    expect(names(problems)).toEqual(['JWT_SECRET']);
    expect(problems[0]).toMatch(/required in production/);
  });
});

describe('the loaded config', () => {
  it('is deeply frozen', () => {
    const config = loadConfig(envWith({ MONGODB_URI: 'mongodb://127.0.0.1:1/app' }));
    expect(Object.isFrozen(config)).toBe(true);
    for (const nested of [config.http, config.database, config.tokens, config.warnings, config.tokens.jwtSecret, config.tokens.refreshTokenHashSecret]) {
      expect(Object.isFrozen(nested)).toBe(true);
    }
    // Test files are ES modules, so strict mode: assigning to a frozen property throws.
    expect(() => {
      (config as { env: string }).env = 'production';
    }).toThrow(TypeError);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.tokens as { accessTokenTtlSeconds: number }).accessTokenTtlSeconds = 86400;
    }).toThrow(TypeError);
    expect(() => {
      (config.warnings as string[]).push('injected');
    }).toThrow(TypeError);
    expect(config.env).toBe('development');
    expect(config.http.port).toBe(4000);
    expect(config.tokens.accessTokenTtlSeconds).toBe(900);
    expect(config.warnings).toEqual([]);
  });

  it('never prints a secret: String(), JSON.stringify and util.inspect show a placeholder', () => {
    const jwt = hexSecret();
    const refresh = base64urlSecret();
    const config = loadConfig(envWith({ JWT_SECRET: jwt, REFRESH_TOKEN_HASH_SECRET: refresh }));
    const jwtBytes = Buffer.from(jwt, 'hex');
    const refreshBytes = Buffer.from(refresh, 'base64url');

    expect(String(config.tokens.jwtSecret)).toBe('[secret]');
    expect(`${config.tokens.refreshTokenHashSecret}`).toBe('[secret]');

    const json = JSON.stringify(config);
    const parsedJson = JSON.parse(json) as { tokens: { jwtSecret: unknown; refreshTokenHashSecret: unknown } };
    expect(parsedJson.tokens.jwtSecret).toBe('[secret]');
    expect(parsedJson.tokens.refreshTokenHashSecret).toBe('[secret]');

    const inspected = inspect(config, { depth: Infinity, showHidden: true });
    expect(inspected).toContain('[secret]');

    for (const printed of [json, inspected]) {
      for (const encoding of ['hex', 'base64', 'base64url'] as const) {
        expect(printed).not.toContain(jwtBytes.toString(encoding));
        expect(printed).not.toContain(refreshBytes.toString(encoding));
      }
    }
    // The key material is still there for those who ask for it.
    expect(Buffer.from(config.tokens.jwtSecret!.bytes()).equals(jwtBytes)).toBe(true);
    expect(Buffer.from(config.tokens.refreshTokenHashSecret.bytes()).equals(refreshBytes)).toBe(true);
  });
});

describe('secret strength', () => {
  it.each([
    ['secret', 'secret'],
    ['password123', 'password123'],
    ['changeme', 'changeme'],
    ['the .env.example placeholder', EXAMPLE_SECRET],
    ['a well-known value in another case', 'ChangeMe'],
  ])('refuses the well-known value %s', (_label, value) => {
    const problems = problemsFor(envWith({ JWT_SECRET: value }));
    expect(names(problems)).toEqual(['JWT_SECRET']);
    expect(problems[0]).toMatch(/well-known/);
  });

  it('refuses a secret shorter than 256 bits', () => {
    const problems = problemsFor(envWith({ JWT_SECRET: randomBytes(16).toString('hex') }));
    expect(names(problems)).toEqual(['JWT_SECRET']);
    expect(problems[0]).toMatch(/128 bits/);
  });

  it('refuses a short base64url secret for REFRESH_TOKEN_HASH_SECRET too', () => {
    const problems = problemsFor(envWith({ REFRESH_TOKEN_HASH_SECRET: randomBytes(16).toString('base64url') }));
    expect(names(problems)).toEqual(['REFRESH_TOKEN_HASH_SECRET']);
  });

  it.each([
    ['64 times "a"', 'a'.repeat(64)],
    ['"0123456789abcdef" four times', '0123456789abcdef'.repeat(4)],
  ])('refuses a long but low-entropy secret: %s', (_label, value) => {
    const problems = problemsFor(envWith({ JWT_SECRET: value }));
    expect(names(problems)).toEqual(['JWT_SECRET']);
    expect(problems[0]).toMatch(/random/);
  });

  it('refuses a secret that is neither hex nor base64url', () => {
    const problems = problemsFor(envWith({ JWT_SECRET: `${base64urlSecret()}!` }));
    expect(names(problems)).toEqual(['JWT_SECRET']);
  });

  it('accepts 32 random bytes in hex', () => {
    const jwt = hexSecret();
    const refresh = hexSecret();
    const config = loadConfig(envWith({ JWT_SECRET: jwt, REFRESH_TOKEN_HASH_SECRET: refresh }));
    expect(config.tokens.jwtSecret!.length).toBe(32);
    expect(Buffer.from(config.tokens.jwtSecret!.bytes()).toString('hex')).toBe(jwt);
    expect(Buffer.from(config.tokens.refreshTokenHashSecret.bytes()).toString('hex')).toBe(refresh);
  });

  it('accepts 32 random bytes in base64url', () => {
    const jwt = base64urlSecret();
    const refresh = base64urlSecret();
    const config = loadConfig(envWith({ JWT_SECRET: jwt, REFRESH_TOKEN_HASH_SECRET: refresh }));
    expect(config.tokens.jwtSecret!.length).toBe(32);
    expect(Buffer.from(config.tokens.jwtSecret!.bytes()).toString('base64url')).toBe(jwt);
    expect(Buffer.from(config.tokens.refreshTokenHashSecret.bytes()).toString('base64url')).toBe(refresh);
  });

  it('refuses the same value for JWT_SECRET and REFRESH_TOKEN_HASH_SECRET', () => {
    const shared = base64urlSecret();
    const problems = problemsFor(envWith({ JWT_SECRET: shared, REFRESH_TOKEN_HASH_SECRET: shared }));
    expect(names(problems)).toEqual(['REFRESH_TOKEN_HASH_SECRET']);
    expect(problems[0]).toMatch(/differ/);
  });

  it('refuses the same key for both secrets even when it is spelled differently', () => {
    const bytes = randomBytes(32);
    for (const [jwt, refresh] of [
      [bytes.toString('hex'), bytes.toString('hex').toUpperCase()],
      [bytes.toString('hex'), bytes.toString('base64url')],
      [bytes.toString('base64url'), ` ${bytes.toString('base64url')}= `],
    ] as const) {
      const problems = problemsFor(envWith({ JWT_SECRET: jwt, REFRESH_TOKEN_HASH_SECRET: refresh }));
      expect(names(problems)).toEqual(['REFRESH_TOKEN_HASH_SECRET']);
    }
  });
});

describe('problem reporting', () => {
  it('reports every problem at once, each naming its variable', () => {
    const problems = problemsFor(envWith({ PORT: 'eighty', NODE_ENV: 'staging', JWT_SECRET: 'a'.repeat(64) }));
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.some((p) => p.startsWith('PORT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('NODE_ENV:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('JWT_SECRET:'))).toBe(true);
  });

  it('puts every problem into the error message too', () => {
    let caught: unknown;
    try {
      loadConfig(envWith({ PORT: '70000', ACCESS_TOKEN_TTL_SECONDS: '86400', REFRESH_TOKEN_HASH_SECRET: 'secret' }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const error = caught as ConfigError;
    expect(names(error.problems).sort()).toEqual(['ACCESS_TOKEN_TTL_SECONDS', 'PORT', 'REFRESH_TOKEN_HASH_SECRET']);
    for (const problem of error.problems) expect(error.message).toContain(problem);
  });

  it('reports bad values of the other checked variables by name', () => {
    const problems = problemsFor(
      envWith({ REFRESH_TOKEN_TTL_SECONDS: '1', SESSION_MAX_AGE_SECONDS: 'forever', CLOCK_TOLERANCE_SECONDS: '-1', SIGNUP_ENABLED: 'yes', LOG_LEVEL: 'loud' }),
    );
    expect(names(problems).sort()).toEqual(['CLOCK_TOLERANCE_SECONDS', 'LOG_LEVEL', 'REFRESH_TOKEN_TTL_SECONDS', 'SESSION_MAX_AGE_SECONDS', 'SIGNUP_ENABLED']);
  });

  it('reports the production requirements alongside a malformed variable instead of hiding them behind it', () => {
    const found = names(problemsFor({ NODE_ENV: 'production', PORT: 'eighty', DATA_DIR: dataDir }));
    expect(found).toEqual(expect.arrayContaining(['PORT', 'MONGODB_URI', 'JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET']));
  });

  it('writes no development secrets when the configuration is refused', () => {
    problemsFor({ DATA_DIR: dataDir, PORT: 'eighty' });
    expect(existsSync(join(dataDir, 'dev-secrets.json'))).toBe(false);
  });

  it('refuses SESSION_MAX_AGE_SECONDS shorter than REFRESH_TOKEN_TTL_SECONDS', () => {
    const problems = problemsFor(envWith({ REFRESH_TOKEN_TTL_SECONDS: '86400', SESSION_MAX_AGE_SECONDS: '3600' }));
    expect(names(problems)).toEqual(['SESSION_MAX_AGE_SECONDS']);
  });

  it('accepts SESSION_MAX_AGE_SECONDS equal to REFRESH_TOKEN_TTL_SECONDS', () => {
    const config = loadConfig(envWith({ REFRESH_TOKEN_TTL_SECONDS: '3600', SESSION_MAX_AGE_SECONDS: '3600' }));
    expect(config.tokens.sessionMaxAgeSeconds).toBe(3600);
  });
});

describe('MONGODB_URI', () => {
  it('takes the database name from the path', () => {
    const config = loadConfig(envWith({ MONGODB_URI: 'mongodb://user:pw@db1.internal:27017,db2.internal:27017/accounts?replicaSet=rs0' }));
    expect(config.database.name).toBe('accounts');
    expect(config.database.uri).toBe('mongodb://user:pw@db1.internal:27017,db2.internal:27017/accounts?replicaSet=rs0');
  });

  it('uses the default database name when the URI has no path', () => {
    expect(loadConfig(envWith({ MONGODB_URI: 'mongodb://127.0.0.1:27017/' })).database.name).toBe('portcullis');
    expect(loadConfig(envWith({ MONGODB_URI: 'mongodb://127.0.0.1:27017' })).database.name).toBe('portcullis');
  });

  it.each(['not a connection string', 'http://db.internal/app', 'mongodb://'])('reports an unparseable URI as a problem: %s', (uri) => {
    const problems = problemsFor(envWith({ MONGODB_URI: uri }));
    expect(names(problems)).toEqual(['MONGODB_URI']);
  });
});

describe('production', () => {
  it('refuses a missing MONGODB_URI and missing secrets, naming each variable', () => {
    const problems = problemsFor({ NODE_ENV: 'production', DATA_DIR: dataDir });
    expect(names(problems).sort()).toEqual(['JWT_SECRET', 'MONGODB_URI', 'REFRESH_TOKEN_HASH_SECRET']);
    // Refusing is all it does: nothing is generated on disk.
    expect(existsSync(join(dataDir, 'dev-secrets.json'))).toBe(false);
  });

  it('refuses one missing secret even when the other is set', () => {
    const problems = problemsFor(envWith({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal/app', REFRESH_TOKEN_HASH_SECRET: undefined }));
    expect(names(problems)).toEqual(['REFRESH_TOKEN_HASH_SECRET']);
  });

  it('refuses generated secrets even when a development secrets file exists', () => {
    const dev = loadConfig({ DATA_DIR: dataDir });
    expect(dev.secretsSource).toBe('generated');
    const problems = problemsFor({ NODE_ENV: 'production', DATA_DIR: dataDir, MONGODB_URI: 'mongodb://db.internal/app' });
    expect(names(problems).sort()).toEqual(['JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET']);
  });

  it('loads with a database URI and both secrets from the environment', () => {
    const config = loadConfig(envWith({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal/app' }));
    expect(config.env).toBe('production');
    expect(config.secretsSource).toBe('environment');
    expect(config.database).toEqual({ uri: 'mongodb://db.internal/app', name: 'app' });
  });

  it('turns the playground off unless PLAYGROUND_ENABLED says otherwise (on in development)', () => {
    const production = { NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal/app' };
    expect(loadConfig(envWith(production)).playgroundEnabled).toBe(false);
    expect(loadConfig(envWith({ ...production, PLAYGROUND_ENABLED: 'true' })).playgroundEnabled).toBe(true);
    expect(loadConfig(envWith({ NODE_ENV: 'development' })).playgroundEnabled).toBe(true);
    expect(loadConfig(envWith({ NODE_ENV: 'development', PLAYGROUND_ENABLED: 'false' })).playgroundEnabled).toBe(false);
    expect(names(problemsFor(envWith({ PLAYGROUND_ENABLED: 'yes' })))).toEqual(['PLAYGROUND_ENABLED']);
  });

  it('warns when sign-up is enabled', () => {
    // Sign-up in production needs mail (each new account is sent a verification link): see mail-config.test.ts.
    const mail = { SMTP_URL: 'smtps://user:pass@mail.example.com:465', MAIL_FROM: 'no-reply@example.com', PUBLIC_URL: 'https://auth.example.com' };
    const config = loadConfig(envWith({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal/app', SIGNUP_ENABLED: 'true', ...mail }));
    expect(config.warnings.some((warning) => warning.includes('SIGNUP_ENABLED'))).toBe(true);
  });
});

describe('development secrets', () => {
  it('generates missing secrets into DATA_DIR/dev-secrets.json with mode 0600 and warns', () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const path = join(dataDir, 'dev-secrets.json');
    expect(config.secretsSource).toBe('generated');
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const stored = JSON.parse(readFileSync(path, 'utf8')) as { jwtSecret: string; refreshTokenHashSecret: string };
    expect(Buffer.from(config.tokens.jwtSecret!.bytes()).toString('base64url')).toBe(stored.jwtSecret);
    expect(Buffer.from(config.tokens.refreshTokenHashSecret.bytes()).toString('base64url')).toBe(stored.refreshTokenHashSecret);
    expect(stored.jwtSecret).not.toBe(stored.refreshTokenHashSecret);
  });

  it('creates DATA_DIR when it does not exist yet', () => {
    const nested = join(dataDir, 'not', 'yet');
    const config = loadConfig({ DATA_DIR: nested });
    expect(config.secretsSource).toBe('generated');
    expect(existsSync(join(nested, 'dev-secrets.json'))).toBe(true);
  });

  it('reads the same secrets on the next load', async () => {
    const first: Config = loadConfig({ DATA_DIR: dataDir });
    const second: Config = loadConfig({ DATA_DIR: dataDir });
    expect(second.secretsSource).toBe('generated');
    expect((await createHmacKeyRing(second.tokens.jwtSecret!)).current(0).kid).toBe((await createHmacKeyRing(first.tokens.jwtSecret!)).current(0).kid);
    expect(Buffer.from(second.tokens.refreshTokenHashSecret.bytes()).equals(Buffer.from(first.tokens.refreshTokenHashSecret.bytes()))).toBe(true);

    // A different data directory means different secrets: the kid really depends on the key.
    const elsewhere = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
    try {
      const other = loadConfig({ DATA_DIR: elsewhere });
      expect((await createHmacKeyRing(other.tokens.jwtSecret!)).current(0).kid).not.toBe((await createHmacKeyRing(first.tokens.jwtSecret!)).current(0).kid);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('generates only the missing secret and keeps the one from the environment', () => {
    const jwt = base64urlSecret();
    const config = loadConfig({ DATA_DIR: dataDir, JWT_SECRET: jwt });
    expect(config.secretsSource).toBe('generated');
    expect(Buffer.from(config.tokens.jwtSecret!.bytes()).toString('base64url')).toBe(jwt);
  });
});

describe('argon2id parameters', () => {
  it('defaults to the OWASP minimum: m=19 MiB, t=2, p=1', () => {
    expect(loadConfig(envWith()).argon2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
  });

  it('refuses parameters below the OWASP minimum, naming each', () => {
    const found = names(problemsFor(envWith({ ARGON2_MEMORY_KIB: '4096', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '0' })));
    expect(found).toEqual(expect.arrayContaining(['ARGON2_MEMORY_KIB', 'ARGON2_TIME_COST', 'ARGON2_PARALLELISM']));
  });

  it('accepts stronger parameters', () => {
    expect(loadConfig(envWith({ ARGON2_MEMORY_KIB: '65536', ARGON2_TIME_COST: '3', ARGON2_PARALLELISM: '2' })).argon2).toEqual({
      memoryCost: 65_536,
      timeCost: 3,
      parallelism: 2,
    });
  });
});

describe('ALLOWED_ORIGINS', () => {
  it('reads a comma-separated list of exact origins', () => {
    expect(loadConfig(envWith({ ALLOWED_ORIGINS: 'https://app.example.com, http://localhost:3000' })).allowedOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:3000',
    ]);
  });

  it.each(['*', 'https://*.example.com', 'https://app.example.com/path', 'app.example.com'])('refuses %s', (origin) => {
    expect(names(problemsFor(envWith({ ALLOWED_ORIGINS: origin })))).toContain('ALLOWED_ORIGINS');
  });
});

describe('TRUSTED_PROXIES', () => {
  it('is empty by default: no X-Forwarded-For is believed', () => {
    expect(loadConfig(envWith()).trustedProxies).toEqual([]);
  });

  it('reads addresses and CIDR ranges, comma-separated, IPv4 and IPv6', () => {
    expect(loadConfig(envWith({ TRUSTED_PROXIES: ' 10.0.0.5, fd00::/8 ,127.0.0.1,, 192.168.0.0/16 ' })).trustedProxies).toEqual([
      '10.0.0.5',
      'fd00::/8',
      '127.0.0.1',
      '192.168.0.0/16',
    ]);
  });

  it.each(['*', 'proxy.internal', '10.0.0.0/33', '10.0.0.5:8080', '0.0.0.0/0 10.0.0.1', '0.0.0.0/0', '::/0'])('refuses %s with how to fix it', (entry) => {
    const problems = problemsFor(envWith({ TRUSTED_PROXIES: entry }));
    expect(names(problems)).toEqual(['TRUSTED_PROXIES']);
    expect(problems[0]).toMatch(/CIDR/);
  });
});
