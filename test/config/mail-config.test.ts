import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Env } from '../../src/config/config.js';

const SMTP_PASSWORD = 'smtp-pa55word-never-logged';
const SMTP_URL = `smtps://mailer:${SMTP_PASSWORD}@mail.example.com:465`;
const MAIL = { SMTP_URL, MAIL_FROM: 'Portcullis <no-reply@example.com>', PUBLIC_URL: 'https://auth.example.com' };

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'portcullis-mail-config-'));
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const secret = (): string => randomBytes(32).toString('base64url');
function envWith(overrides: Env = {}): Env {
  return { DATA_DIR: dataDir, JWT_SECRET: secret(), REFRESH_TOKEN_HASH_SECRET: secret(), ...overrides };
}
const production = (overrides: Env = {}): Env => envWith({ NODE_ENV: 'production', MONGODB_URI: 'mongodb://db.internal/app', ...overrides });

function problemsFor(env: Env): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('mail configuration', () => {
  it('defaults: development writes mail to the log, links to http://HOST:PORT, 900 s resets, 1 day verifications, 10 s timeout', () => {
    const { mail } = loadConfig(envWith({ PORT: '4100' }));
    expect(mail).toMatchObject({
      delivery: 'log',
      smtpUrl: undefined,
      publicUrl: 'http://127.0.0.1:4100',
      passwordResetTtlSeconds: 900,
      emailVerificationTtlSeconds: 86_400,
      timeoutMs: 10_000,
      requireVerifiedEmail: false,
    });
  });

  it('turns mail off in production without SMTP_URL', () => {
    expect(loadConfig(production()).mail.delivery).toBe('off');
  });

  it.each([['SIGNUP_ENABLED'], ['REQUIRE_VERIFIED_EMAIL']])('refuses to start in production with %s=true and no SMTP_URL', (name) => {
    const problems = problemsFor(production({ [name]: 'true' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^SMTP_URL: required in production when ${name}=true`));
  });

  it('starts in production with SMTP_URL, MAIL_FROM and an https PUBLIC_URL', () => {
    const config = loadConfig(production({ ...MAIL, SIGNUP_ENABLED: 'true', REQUIRE_VERIFIED_EMAIL: 'true' }));
    expect(config.mail).toMatchObject({ delivery: 'smtp', smtpServer: 'smtps://mail.example.com:465', publicUrl: 'https://auth.example.com', requireVerifiedEmail: true });
    expect(config.mail.smtpUrl?.reveal()).toBe(SMTP_URL);
  });

  it('requires PUBLIC_URL and MAIL_FROM with SMTP_URL, and https for PUBLIC_URL in production', () => {
    expect(problemsFor(envWith({ SMTP_URL })).map((problem) => problem.split(':')[0]).sort()).toEqual(['MAIL_FROM', 'PUBLIC_URL']);
    expect(problemsFor(production({ ...MAIL, PUBLIC_URL: 'http://auth.example.com' }))).toEqual([
      'PUBLIC_URL: must be https in production (links in mail carry one-time tokens)',
    ]);
    expect(problemsFor(envWith({ ...MAIL, PUBLIC_URL: 'https://auth.example.com/?x=1' }))[0]).toMatch(/^PUBLIC_URL: not a valid URL/);
  });

  it('keeps a path in PUBLIC_URL and drops a trailing slash', () => {
    expect(loadConfig(envWith({ ...MAIL, PUBLIC_URL: 'https://example.com/auth/' })).mail.publicUrl).toBe('https://example.com/auth');
  });

  it('refuses a MAIL_FROM that could inject headers', () => {
    expect(problemsFor(envWith({ ...MAIL, MAIL_FROM: 'a@example.com\r\nBcc: victim@example.com' }))[0]).toMatch(/^MAIL_FROM:/);
  });

  it('never shows the SMTP password: not in problems, not when the config is printed or serialised', () => {
    const problems = problemsFor(envWith({ SMTP_URL: `http://mailer:${SMTP_PASSWORD}@mail.example.com` }));
    expect(problems.join('\n')).toMatch(/^SMTP_URL: not a valid SMTP URL/);
    expect(problems.join('\n')).not.toContain(SMTP_PASSWORD);
    const config = loadConfig(envWith(MAIL));
    expect(JSON.stringify(config)).not.toContain(SMTP_PASSWORD);
    expect(inspect(config, { depth: 10 })).not.toContain(SMTP_PASSWORD);
    expect(String(config.mail.smtpUrl)).toBe('[secret]');
  });

  it('bounds the TTLs and the timeout', () => {
    const found = problemsFor(envWith({ PASSWORD_RESET_TTL_SECONDS: '10', EMAIL_VERIFICATION_TTL_SECONDS: '0', MAIL_TIMEOUT_MS: 'forever' }));
    expect(found.map((problem) => problem.split(':')[0]).sort()).toEqual(['EMAIL_VERIFICATION_TTL_SECONDS', 'MAIL_TIMEOUT_MS', 'PASSWORD_RESET_TTL_SECONDS']);
  });
});
