import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configProblems, testConfig } from '../support/config.js';

const problemsOf = (overrides: Record<string, string | undefined>): readonly string[] => configProblems(() => testConfig(overrides));

describe('OIDC provider configuration', () => {
  it('reads each listed provider with its defaults, and never prints the client secret', () => {
    const config = testConfig({
      OIDC_PROVIDERS: 'google, corp',
      OIDC_GOOGLE_ISSUER: 'https://accounts.google.com',
      OIDC_GOOGLE_CLIENT_ID: 'google-client',
      OIDC_GOOGLE_CLIENT_SECRET: 'very-secret-value',
      OIDC_GOOGLE_TRUSTED_EMAIL: 'true',
      OIDC_CORP_ISSUER: 'http://127.0.0.1:9999',
      OIDC_CORP_CLIENT_ID: 'corp-client',
      OIDC_CORP_LABEL: 'Corp SSO',
      OIDC_CORP_SCOPES: 'openid email',
    });
    const [google, corp] = config.oidc.providers;
    expect(google).toMatchObject({ name: 'google', label: 'Google', scopes: ['openid', 'email', 'profile'], trustedEmail: true, allowInsecureRequests: false });
    expect(google?.clientSecret?.reveal()).toBe('very-secret-value');
    expect(corp).toMatchObject({ name: 'corp', label: 'Corp SSO', scopes: ['openid', 'email'], trustedEmail: false, clientSecret: undefined, allowInsecureRequests: true });
    expect(JSON.stringify(config)).not.toContain('very-secret-value');
    expect(inspect(config, { depth: 10 })).not.toContain('very-secret-value');
  });

  it('refuses the start listing every problem at once', () => {
    const problems = problemsOf({
      OIDC_PROVIDERS: 'google,Bad-Name,corp,empty',
      OIDC_GOOGLE_ISSUER: 'not a url',
      OIDC_GOOGLE_CLIENT_SECRET: 'very-secret-value',
      OIDC_CORP_ISSUER: 'https://corp.example.com',
      OIDC_CORP_CLIENT_ID: 'corp',
      OIDC_CORP_SCOPES: 'email profile',
      OIDC_CORP_TRUSTED_EMAIL: 'yes',
      OIDC_OTHER_CLIENT_ID: 'x',
    });
    const starts = problems.map((problem) => problem.split(':')[0]);
    expect(starts).toEqual(
      expect.arrayContaining([
        'OIDC_PROVIDERS',
        'OIDC_GOOGLE_ISSUER',
        'OIDC_GOOGLE_CLIENT_ID',
        'OIDC_CORP_SCOPES',
        'OIDC_CORP_TRUSTED_EMAIL',
        'OIDC_EMPTY_ISSUER',
        'OIDC_EMPTY_CLIENT_ID',
        'OIDC_OTHER_CLIENT_ID',
      ]),
    );
    expect(problems.join('\n')).not.toContain('very-secret-value');
  });

  it('refuses a plain-http issuer in production unless it is on loopback', () => {
    const production = { NODE_ENV: 'production', PUBLIC_URL: 'https://auth.example.com', OIDC_PROVIDERS: 'corp', OIDC_CORP_CLIENT_ID: 'corp' };
    expect(problemsOf({ ...production, OIDC_CORP_ISSUER: 'http://idp.example.com' }).some((problem) => problem.startsWith('OIDC_CORP_ISSUER'))).toBe(true);
    expect(problemsOf({ ...production, OIDC_CORP_ISSUER: 'http://127.0.0.1:8080' }).some((problem) => problem.startsWith('OIDC_CORP_ISSUER'))).toBe(false);
  });
});
