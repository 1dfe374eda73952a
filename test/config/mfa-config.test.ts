import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config.js';
import { testConfig } from '../support/config.js';

function problemsOf(overrides: Record<string, string | undefined>): string[] {
  try {
    testConfig(overrides);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('passkey and second-factor configuration', () => {
  it('defaults the RP id and origins from PUBLIC_URL', () => {
    const config = testConfig({ PUBLIC_URL: 'https://auth.example.com/base' });
    expect(config.mfa.webauthn).toMatchObject({ rpId: 'auth.example.com', origins: ['https://auth.example.com'] });
    expect(config.mfa.reauthMaxAgeSeconds).toBe(600);
    expect(config.mfa.requiredRoles).toEqual([]);
  });

  it('uses localhost for an unconfigured development gateway on 127.0.0.1 (browsers take no IP address as RP id)', () => {
    const config = testConfig({ PORT: '4100' });
    expect(config.mfa.webauthn).toMatchObject({ rpId: 'localhost', origins: ['http://localhost:4100'] });
  });

  it('refuses an origin outside the RP id, and an explicit IP address', () => {
    expect(problemsOf({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://evil.test' }).some((p) => p.startsWith('WEBAUTHN_ORIGINS:'))).toBe(true);
    expect(problemsOf({ WEBAUTHN_RP_ID: '127.0.0.1' }).some((p) => p.startsWith('WEBAUTHN_RP_ID:'))).toBe(true);
    expect(testConfig({ PUBLIC_URL: 'http://127.0.0.1:4000' }).mfa.webauthn).toMatchObject({ rpId: 'localhost', origins: ['http://localhost:4000'] });
    expect(testConfig({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com,https://example.com' }).mfa.webauthn.origins).toHaveLength(2);
  });

  it('refuses plain http origins in production, except localhost', () => {
    const production = { NODE_ENV: 'production', WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'http://app.example.com' };
    expect(problemsOf(production).some((p) => p.startsWith('WEBAUTHN_ORIGINS:') && p.includes('https'))).toBe(true);
  });

  it('takes MFA_REQUIRED_ROLES only among the known roles', () => {
    expect(testConfig({ MFA_REQUIRED_ROLES: 'ADMIN' }).mfa.requiredRoles).toEqual(['ADMIN']);
    expect(problemsOf({ MFA_REQUIRED_ROLES: 'ADMINS' }).some((p) => p.startsWith('MFA_REQUIRED_ROLES:'))).toBe(true);
    expect(problemsOf({ REAUTH_MAX_AGE_SECONDS: '5' }).some((p) => p.startsWith('REAUTH_MAX_AGE_SECONDS:'))).toBe(true);
  });
});
