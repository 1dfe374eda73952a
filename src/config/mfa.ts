import { z } from 'zod';

/** Passkeys (WebAuthn), the second factor and re-authentication (issue 18). Part of the one frozen Config. */
export interface MfaConfig {
  readonly webauthn: {
    /** The relying party id: the registrable domain passkeys are bound to (WEBAUTHN_RP_ID). */
    readonly rpId: string;
    /** The name authenticators show beside the account. */
    readonly rpName: string;
    /** The exact browser origins a ceremony may come from (WEBAUTHN_ORIGINS). */
    readonly origins: readonly string[];
  };
  /** Holders of any of these roles must have a second factor; until they enroll one, a session may only enroll. */
  readonly requiredRoles: readonly string[];
  /** Sensitive account operations need a sign-in at most this old (REAUTH_MAX_AGE_SECONDS). */
  readonly reauthMaxAgeSeconds: number;
}

/** The variables this module reads; config.ts lists them in CONFIG_VARIABLES. */
export const MFA_VARIABLES: readonly string[] = Object.freeze(['WEBAUTHN_RP_ID', 'WEBAUTHN_ORIGINS', 'MFA_REQUIRED_ROLES', 'REAUTH_MAX_AGE_SECONDS']);

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const schema = {
  WEBAUTHN_RP_ID: z.string().regex(DOMAIN, 'must be a lower-case domain name such as example.com (no scheme, port or path)').optional(),
  WEBAUTHN_ORIGINS: z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s*]+$/, 'each origin must be scheme://host[:port], no path, no wildcard')))
    .optional(),
  MFA_REQUIRED_ROLES: z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'each role must be upper case, like ADMIN')))
    .optional(),
  REAUTH_MAX_AGE_SECONDS: z.coerce.number().int().min(30).max(86_400).optional(),
};

/**
 * Reads the variables above. WEBAUTHN_RP_ID defaults to PUBLIC_URL's host and WEBAUTHN_ORIGINS to PUBLIC_URL's
 * origin; a set that cannot work together (an origin outside the RP id, plain http off loopback in production)
 * is refused at start, because browsers would refuse every ceremony later with no clear reason.
 */
export function readMfaConfig(
  env: Readonly<Record<string, string | undefined>>,
  input: { readonly publicUrl: string | undefined; readonly knownRoles: readonly string[]; readonly production: boolean },
  problems: string[],
): MfaConfig | undefined {
  const before = problems.length;
  const values: Record<string, unknown> = {};
  for (const [name, parser] of Object.entries(schema)) {
    const result = (parser as z.ZodType).safeParse(env[name]);
    if (result.success) values[name] = result.data;
    else for (const issue of result.error.issues) problems.push(`${name}: ${issue.message}`);
  }
  const vars = values as { [K in keyof typeof schema]?: z.infer<(typeof schema)[K]> };
  let origins = vars.WEBAUTHN_ORIGINS;
  if (origins === undefined || origins.length === 0) {
    // The derived default may not parse (a listening address such as [::1] written twice bracketed): then no
    // default origin, and the RP id falls back to localhost.
    const fromPublicUrl = input.publicUrl === undefined ? undefined : originOf(input.publicUrl);
    origins = fromPublicUrl === undefined ? [] : [fromPublicUrl];
  } else {
    origins = origins.map((origin) => new URL(origin).origin);
  }
  let rpId = vars.WEBAUTHN_RP_ID ?? (origins[0] === undefined ? 'localhost' : new URL(origins[0]).hostname);
  const explicit = env['WEBAUTHN_RP_ID'] !== undefined || env['WEBAUTHN_ORIGINS'] !== undefined;
  if (!explicit && isIpAddress(rpId)) {
    // Defaults from an address such as http://127.0.0.1:4000: browsers take no IP address as an RP id, while
    // http://localhost (the same machine) is a secure context too, so passkeys work there.
    rpId = 'localhost';
    origins = origins.map((origin) => {
      const url = new URL(origin);
      url.hostname = 'localhost';
      return url.origin;
    });
  }
  if (isIpAddress(rpId)) {
    problems.push(`WEBAUTHN_RP_ID: "${rpId}" is an IP address; browsers accept only a domain name as the RP id (set WEBAUTHN_RP_ID and PUBLIC_URL to a host name such as localhost or auth.example.com)`);
  }
  for (const origin of origins) {
    const url = new URL(origin);
    if (url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`)) {
      problems.push(`WEBAUTHN_ORIGINS: ${origin} is not on ${rpId} or one of its subdomains, so no browser there could use a passkey for that RP id (fix WEBAUTHN_RP_ID or WEBAUTHN_ORIGINS)`);
    }
    if (url.protocol === 'http:' && input.production && url.hostname !== 'localhost') {
      problems.push(`WEBAUTHN_ORIGINS: ${origin} must be https in production (browsers offer passkeys only in secure contexts)`);
    }
  }
  const requiredRoles = vars.MFA_REQUIRED_ROLES ?? [];
  const unknown = requiredRoles.filter((role) => !input.knownRoles.includes(role));
  if (unknown.length > 0) {
    problems.push(`MFA_REQUIRED_ROLES: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a known role' : 'are not known roles'} (known: ${input.knownRoles.join(', ')}; add it to ROLES or correct the name)`);
  }
  if (problems.length > before) return undefined;
  return {
    webauthn: { rpId, rpName: 'Portcullis', origins },
    requiredRoles: [...new Set(requiredRoles)],
    reauthMaxAgeSeconds: vars.REAUTH_MAX_AGE_SECONDS ?? 600,
  };
}

function originOf(text: string): string | undefined {
  try {
    return new URL(text).origin;
  } catch {
    return undefined;
  }
}

function isIpAddress(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
