import { SecretText } from './secret.js';

/** One OpenID Connect provider Portcullis signs people in through (OIDC_PROVIDERS and OIDC_<NAME>_*). */
export interface OidcProviderConfig {
  /** `[a-z][a-z0-9_]*`: in the routes (/auth/oidc/<name>/…), in `signInMethods`, in audit events. */
  readonly name: string;
  /** The issuer URL, as the provider's discovery document states it. */
  readonly issuer: string;
  readonly clientId: string;
  /** undefined: a public client (PKCE only, no client authentication). Never printed. */
  readonly clientSecret: SecretText | undefined;
  readonly scopes: readonly string[];
  /** Button text. */
  readonly label: string;
  /**
   * The provider owns the mail of the addresses it asserts as verified (Google for gmail.com, a company's own
   * IdP for its domain): a first sign-in whose verified email matches an account is linked to it.
   */
  readonly trustedEmail: boolean;
  /**
   * openid-client refuses http:// issuers. Allowed only for a loopback issuer or outside production (a local
   * Keycloak in development, the test provider): in production every provider must be https.
   */
  readonly allowInsecureRequests: boolean;
}

export interface OidcConfig {
  readonly providers: readonly OidcProviderConfig[];
  /** Where the provider sends the browser back: `${redirectBase}/auth/oidc/<name>/callback`. PUBLIC_URL. */
  readonly redirectBase: string;
}

export const OIDC_PROVIDERS_VARIABLE = 'OIDC_PROVIDERS';
/** Per-provider variables, documented as one row each with <NAME> in place of the upper-cased name. */
export const OIDC_PATTERN_VARIABLES: readonly string[] = Object.freeze(
  ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET', 'SCOPES', 'LABEL', 'TRUSTED_EMAIL'].map((suffix) => `OIDC_<NAME>_${suffix}`),
);

const NAME = /^[a-z][a-z0-9_]*$/;
const DEFAULT_SCOPES = ['openid', 'email', 'profile'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Reads OIDC_PROVIDERS and each provider's settings. Every problem is pushed (never a secret's value); the
 * answer is only meaningful when no problem was added.
 */
export function readOidcConfig(env: Readonly<Record<string, string | undefined>>, context: { production: boolean; publicUrl: string; publicUrlSet: boolean }, problems: string[]): OidcConfig {
  const providers: OidcProviderConfig[] = [];
  const listed = (env[OIDC_PROVIDERS_VARIABLE] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const names = new Set<string>();
  if (listed.length > 0 && context.production && !context.publicUrlSet) {
    problems.push(`PUBLIC_URL: required in production when ${OIDC_PROVIDERS_VARIABLE} is set (the redirect URI registered at each provider is PUBLIC_URL/auth/oidc/<name>/callback)`);
  }
  for (const name of listed) {
    if (!NAME.test(name)) {
      problems.push(`${OIDC_PROVIDERS_VARIABLE}: the name "${name}" must match [a-z][a-z0-9_]* (lower case letters, digits, _; a letter first)`);
      continue;
    }
    if (names.has(name)) {
      problems.push(`${OIDC_PROVIDERS_VARIABLE}: "${name}" is listed twice; give each provider one entry`);
      continue;
    }
    names.add(name);
    const provider = readProvider(env, name, context.production, problems);
    if (provider) providers.push(provider);
  }
  // A setting for a provider nobody listed is most likely a typo in the name or in OIDC_PROVIDERS.
  for (const variable of Object.keys(env)) {
    const match = /^OIDC_([A-Z][A-Z0-9_]*?)_(ISSUER|CLIENT_ID|CLIENT_SECRET|SCOPES|LABEL|TRUSTED_EMAIL)$/.exec(variable);
    if (!match || env[variable] === undefined || env[variable]?.trim() === '') continue;
    const name = (match[1] ?? '').toLowerCase();
    if (!names.has(name) && !listed.includes(name)) {
      problems.push(`${variable}: names no provider in ${OIDC_PROVIDERS_VARIABLE}; add ${name} to ${OIDC_PROVIDERS_VARIABLE} or remove the variable`);
    }
  }
  return { providers, redirectBase: context.publicUrl };
}

function readProvider(env: Readonly<Record<string, string | undefined>>, name: string, production: boolean, problems: string[]): OidcProviderConfig | undefined {
  const prefix = `OIDC_${name.toUpperCase()}_`;
  const value = (suffix: string): string | undefined => {
    const text = env[`${prefix}${suffix}`]?.trim();
    return text === undefined || text === '' ? undefined : text;
  };
  const before = problems.length;
  const issuerText = value('ISSUER');
  let issuer: URL | undefined;
  if (issuerText === undefined) {
    problems.push(`${prefix}ISSUER: required for the provider "${name}" listed in ${OIDC_PROVIDERS_VARIABLE} (its issuer URL, e.g. https://accounts.google.com)`);
  } else {
    try {
      issuer = new URL(issuerText);
      if (issuer.protocol !== 'https:' && issuer.protocol !== 'http:') throw new Error('scheme');
      if (issuer.search !== '' || issuer.hash !== '' || issuer.username !== '' || issuer.password !== '') throw new Error('extras');
    } catch {
      issuer = undefined;
      problems.push(`${prefix}ISSUER: not a valid issuer URL (expected https://issuer.example.com, optionally with a path; no query or fragment)`);
    }
  }
  const loopback = issuer !== undefined && LOOPBACK_HOSTS.has(issuer.hostname);
  if (issuer && issuer.protocol === 'http:' && production && !loopback) {
    problems.push(`${prefix}ISSUER: must be https in production (the ID token and the code travel through it)`);
  }
  const clientId = value('CLIENT_ID');
  if (clientId === undefined) problems.push(`${prefix}CLIENT_ID: required for the provider "${name}" (the client id the provider gave you when you registered Portcullis)`);
  const secretText = value('CLIENT_SECRET');
  const scopesText = value('SCOPES');
  const scopes = scopesText === undefined ? DEFAULT_SCOPES : scopesText.split(/[\s,]+/).filter((scope) => scope !== '');
  if (!scopes.includes('openid')) problems.push(`${prefix}SCOPES: must include openid (e.g. "openid email profile")`);
  const trustedText = value('TRUSTED_EMAIL');
  let trustedEmail = false;
  if (trustedText !== undefined) {
    if (!['true', 'false', '1', '0'].includes(trustedText)) problems.push(`${prefix}TRUSTED_EMAIL: use true or false`);
    else trustedEmail = trustedText === 'true' || trustedText === '1';
  }
  if (problems.length > before || issuer === undefined || clientId === undefined) return undefined;
  return {
    name,
    // Kept as written (less a trailing slash on a bare origin): discovery compares it with the document's issuer.
    issuer: issuerText ?? issuer.href,
    clientId,
    clientSecret: secretText === undefined ? undefined : new SecretText(secretText),
    scopes,
    label: value('LABEL') ?? name.charAt(0).toUpperCase() + name.slice(1),
    trustedEmail,
    allowInsecureRequests: issuer.protocol === 'http:' && (loopback || !production),
  };
}
