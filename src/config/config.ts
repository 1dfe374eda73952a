import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { ConnectionString } from 'mongodb-connection-string-url';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { loadOrCreateDevSecrets } from './dev-secrets.js';
import { GENERATE_SECRET_HINT, parseSecret, SecretText, type Secret } from './secret.js';
import { readSubscriptionsConfig, SUBSCRIPTION_VARIABLES, type SubscriptionsConfig } from './subscriptions.js';

export type RuntimeEnv = 'development' | 'test' | 'production';
export const SIGNING_ALGORITHM_NAMES = ['HS256', 'EdDSA', 'ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithmName = (typeof SIGNING_ALGORITHM_NAMES)[number];
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type AuthorizationMode = 'filter' | 'reject';

/** Roles the gateway's own fields use: always known, whatever ROLES says. */
export const BUILT_IN_ROLES: readonly string[] = Object.freeze(['USER', 'ADMIN']);

/** One API behind the gateway (UPSTREAMS), with the SDL file that describes it, if any. */
export interface UpstreamConfig {
  /** `[a-z][a-z0-9_]*`; the `aud` of the identity tokens it receives. */
  readonly name: string;
  readonly url: string;
  /** UPSTREAM_SCHEMA_<NAME>: an SDL file, resolved; undefined: the gateway asks the upstream. */
  readonly schemaFile: string | undefined;
}

export interface Config {
  readonly env: RuntimeEnv;
  readonly http: { readonly host: string; readonly port: number };
  /** `uri` undefined means: start the embedded MongoDB (development only). */
  readonly database: { readonly uri: string | undefined; readonly name: string };
  readonly dataDir: string;
  readonly tokens: {
    /** How access tokens are signed. HS256 uses JWT_SECRET; the others use key pairs kept in MongoDB. */
    readonly algorithm: SigningAlgorithmName;
    /** The HS256 key; undefined with an asymmetric algorithm. */
    readonly jwtSecret: Secret | undefined;
    /** With an asymmetric algorithm: how long a new key is published before it signs. */
    readonly keyRotationLeadSeconds: number;
    readonly refreshTokenHashSecret: Secret;
    readonly issuer: string;
    readonly audience: string;
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    readonly sessionMaxAgeSeconds: number;
    readonly clockToleranceSeconds: number;
    /** How long the immediate predecessor of a refresh token still gets its successor back (0: never). */
    readonly refreshGraceSeconds: number;
    /** Verified access tokens remembered per process (0: verify the signature on every request). */
    readonly accessTokenCacheSize: number;
  };
  /** Serve GET /metrics (Prometheus text). Off by default: it describes the deployment. */
  readonly metricsEnabled: boolean;
  /**
   * Browser origins (scheme://host[:port]) allowed to call the gateway with credentials: CORS answers them, and
   * a cross-origin POST from any other origin is refused (CSRF_REJECTED). Same-origin requests need no entry.
   */
  readonly allowedOrigins: readonly string[];
  /** Schema introspection; on in development, off in production unless set. */
  readonly introspectionEnabled: boolean;
  /** GraphiQL at /playground (and at /graphql to a browser); on in development, off in production unless set. */
  readonly playgroundEnabled: boolean;
  /** argon2id cost; never below the OWASP minimum (m=19 MiB, t=2, p=1). */
  readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number };
  /** Password hashes in flight at once; undefined: one fewer than the cores (auth/password.ts decides). */
  readonly passwordHashConcurrency: number | undefined;
  readonly revocations: {
    /** Past this, a gateway that cannot sync its revocation view refuses authenticated requests. */
    readonly maxLagSeconds: number;
  };
  readonly signUpEnabled: boolean;
  /** Password-reset and email-verification mail. */
  readonly mail: MailConfig;
  /**
   * Addresses and CIDR ranges (already checked) of the reverse proxies whose X-Forwarded-For is believed. Empty:
   * the socket address is the client's.
   */
  readonly trustedProxies: readonly string[];
  /** Live sessions a user may have; a login beyond it ends the oldest. */
  readonly maxSessionsPerUser: number;
  readonly logLevel: LogLevel;
  /** Gateway mode: the APIs behind the gateway. An empty list serves only the gateway's own schema. */
  readonly upstreams: {
    readonly list: readonly UpstreamConfig[];
    /** How often each upstream's schema is loaded again (0: never). */
    readonly schemaPollSeconds: number;
    readonly timeoutMs: number;
    /** Lower-cased client header names copied to upstream calls. */
    readonly forwardHeaders: readonly string[];
    /** Upstream error codes whose messages reach clients in production. */
    readonly errorCodesPassed: readonly string[];
  };
  /** filter: denied upstream fields answer null with an error; reject: any denial refuses the operation. */
  readonly authorizationMode: AuthorizationMode;
  /** The roles users may hold: ROLES plus the built-in USER and ADMIN. */
  readonly roles: readonly string[];
  /** WebSocket and SSE subscriptions (src/live/): limits and upstream transports. */
  readonly subscriptions: SubscriptionsConfig;
  /** Where the secrets came from; "generated" is for development only and is refused in production. */
  readonly secretsSource: 'environment' | 'generated';
  /** Things worth a warning at start (logged by main once a logger exists). */
  readonly warnings: readonly string[];
}

/**
 * How account mail leaves the gateway: `smtp` through SMTP_URL; `log` (development and test without SMTP_URL)
 * written to the log at info instead, links included; `off` (production without SMTP_URL) not at all, and the
 * reset and verification mutations answer MAIL_DISABLED.
 */
export type MailDelivery = 'smtp' | 'log' | 'off';

export interface MailConfig {
  readonly delivery: MailDelivery;
  /** With `smtp`: the connection URL, password included, so it never prints itself. */
  readonly smtpUrl: SecretText | undefined;
  /** With `smtp`: scheme://host:port without credentials, for the start-up log. */
  readonly smtpServer: string | undefined;
  readonly from: string;
  /** Where users reach the gateway (no trailing slash); links in mail point here. */
  readonly publicUrl: string;
  /** The longest one message may take to send (connection, greeting and every reply). */
  readonly timeoutMs: number;
  readonly passwordResetTtlSeconds: number;
  readonly emailVerificationTtlSeconds: number;
  /** Login of an account whose address is not verified answers EMAIL_NOT_VERIFIED (after the password was right). */
  readonly requireVerifiedEmail: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Every problem found, each with how to fix it. Thrown once, with all of them. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A comma-separated list; blanks around and between entries are ignored. */
const list = (item: z.ZodString) =>
  z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(item));
const flag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** Names, defaults and bounds of every variable. `.env.example` and the table in docs/configuration.md list the same. */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  MONGODB_URI: z.string().min(1).optional(),
  DATA_DIR: z.string().min(1).default('.data'),
  JWT_ALGORITHM: z.enum(SIGNING_ALGORITHM_NAMES).default('HS256'),
  JWT_SECRET: z.string().min(1).optional(),
  KEY_ROTATION_LEAD_SECONDS: seconds(0, 7 * 86400).default(3600),
  REFRESH_TOKEN_HASH_SECRET: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).default('portcullis'),
  JWT_AUDIENCE: z.string().min(1).default('portcullis'),
  ACCESS_TOKEN_TTL_SECONDS: seconds(30, 3600).default(900),
  REFRESH_TOKEN_TTL_SECONDS: seconds(300, 90 * 86400).default(7 * 86400),
  SESSION_MAX_AGE_SECONDS: seconds(300, 365 * 86400).default(30 * 86400),
  CLOCK_TOLERANCE_SECONDS: seconds(0, 120).default(5),
  REFRESH_GRACE_SECONDS: seconds(0, 60).default(10),
  REVOCATION_MAX_LAG_SECONDS: seconds(1, 300).default(5),
  ACCESS_TOKEN_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  METRICS_ENABLED: flag.default(false),
  ALLOWED_ORIGINS: z
    .string()
    .transform((text) => text.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s*]+$/, 'each origin must be scheme://host[:port], no path, no wildcard')))
    .default([]),
  INTROSPECTION_ENABLED: flag.optional(),
  PLAYGROUND_ENABLED: flag.optional(),
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(19_456).max(4_194_304).default(19_456),
  ARGON2_TIME_COST: z.coerce.number().int().min(2).max(100).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(256).optional(),
  SIGNUP_ENABLED: flag.default(false),
  SMTP_URL: z.string().min(1).optional(),
  MAIL_FROM: z.string().max(320).regex(/^[^\r\n]*[^\s@<]@[^\s@>]+>?$/, 'must be an address, optionally with a name: Name <user@host>').optional(),
  PUBLIC_URL: z.string().min(1).optional(),
  PASSWORD_RESET_TTL_SECONDS: seconds(60, 86_400).default(900),
  EMAIL_VERIFICATION_TTL_SECONDS: seconds(300, 30 * 86_400).default(86_400),
  REQUIRE_VERIFIED_EMAIL: flag.default(false),
  MAIL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ALLOW_INSECURE_DEV: flag.default(false),
  TRUSTED_PROXIES: z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(z.string().refine(isProxyEntry, 'each entry must be an IP address or a CIDR range (10.0.0.0/8, fd00::/8), and not /0')))
    .default([]),
  UPSTREAMS: z.string().optional(),
  UPSTREAM_SCHEMA_POLL_SECONDS: seconds(0, 86400).default(60),
  // Below the 15 s request timeout (app.ts), so an upstream that hangs answers UPSTREAM_UNAVAILABLE, not a cut connection.
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(14_000).default(5000),
  UPSTREAM_FORWARD_HEADERS: list(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'each entry must be a header name')).default([]),
  UPSTREAM_ERROR_CODES_PASSED: list(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'each code must look like BAD_USER_INPUT')).default([
    'BAD_USER_INPUT',
    'NOT_FOUND',
    'FORBIDDEN',
    'UNAUTHENTICATED',
  ]),
  AUTHORIZATION_MODE: z.enum(['filter', 'reject']).default('filter'),
  ROLES: list(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'each role must be upper case, like EDITOR or SUPPORT_AGENT')).default([...BUILT_IN_ROLES]),
  MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).max(1000).default(50),
});

/** Variables named by a pattern, one per upstream; documented as one row each. */
export const UPSTREAM_SCHEMA_PREFIX = 'UPSTREAM_SCHEMA_';
const PATTERN_VARIABLES = [`${UPSTREAM_SCHEMA_PREFIX}<NAME>`];

/** Every variable the gateway reads; `.env.example` and the table in docs/configuration.md list exactly these. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze([...Object.keys(envSchema.shape), ...PATTERN_VARIABLES, ...SUBSCRIPTION_VARIABLES]);

const hints: Partial<Record<keyof z.infer<typeof envSchema>, string>> = {
  NODE_ENV: 'use development, test or production',
  JWT_ALGORITHM: 'use HS256 (one service), or EdDSA, ES256, RS256 or PS256 (several services verify with the JWKS)',
  KEY_ROTATION_LEAD_SECONDS: 'use whole seconds from 0 to 604800 (7 days)',
  PORT: 'use a whole number from 0 to 65535',
  ACCESS_TOKEN_TTL_SECONDS: 'use whole seconds from 30 to 3600; access tokens are meant to be short-lived',
  REFRESH_TOKEN_TTL_SECONDS: 'use whole seconds from 300 to 7776000 (90 days)',
  SESSION_MAX_AGE_SECONDS: 'use whole seconds from 300 to 31536000 (365 days)',
  CLOCK_TOLERANCE_SECONDS: 'use whole seconds from 0 to 120',
  REFRESH_GRACE_SECONDS: 'use whole seconds from 0 (no grace) to 60',
  REVOCATION_MAX_LAG_SECONDS: 'use whole seconds from 1 to 300',
  ACCESS_TOKEN_CACHE_SIZE: 'use a whole number from 0 (no cache) to 1000000',
  METRICS_ENABLED: 'use true or false',
  ALLOWED_ORIGINS: 'a comma-separated list such as https://app.example.com,https://admin.example.com',
  INTROSPECTION_ENABLED: 'use true or false',
  PLAYGROUND_ENABLED: 'use true or false',
  ARGON2_MEMORY_KIB: 'use KiB from 19456 (the OWASP minimum, 19 MiB) to 4194304',
  ARGON2_TIME_COST: 'use 2 (the OWASP minimum) to 100 iterations',
  ARGON2_PARALLELISM: 'use 1 to 16 lanes',
  PASSWORD_HASH_CONCURRENCY: 'use a whole number from 1 to 256',
  SIGNUP_ENABLED: 'use true or false',
  MAIL_FROM: 'an address such as "Portcullis <no-reply@example.com>"',
  PASSWORD_RESET_TTL_SECONDS: 'use whole seconds from 60 to 86400 (a day)',
  EMAIL_VERIFICATION_TTL_SECONDS: 'use whole seconds from 300 to 2592000 (30 days)',
  REQUIRE_VERIFIED_EMAIL: 'use true or false',
  MAIL_TIMEOUT_MS: 'use milliseconds from 100 to 120000',
  LOG_LEVEL: 'use fatal, error, warn, info, debug, trace or silent',
  ALLOW_INSECURE_DEV: 'use true or false',
  TRUSTED_PROXIES: 'the addresses or CIDR ranges of your own reverse proxies, comma-separated, such as 10.0.0.5,fd00::/8; never a range that clients share',
  UPSTREAM_SCHEMA_POLL_SECONDS: 'use whole seconds from 0 (never poll) to 86400',
  UPSTREAM_TIMEOUT_MS: 'use milliseconds from 100 to 14000; it must stay below the 15 s request timeout',
  UPSTREAM_FORWARD_HEADERS: 'a comma-separated list of header names such as accept-language,x-request-id',
  UPSTREAM_ERROR_CODES_PASSED: 'a comma-separated list of extensions.code values such as BAD_USER_INPUT,NOT_FOUND',
  AUTHORIZATION_MODE: 'use filter (denied fields answer null) or reject (any denied field refuses the operation)',
  ROLES: 'a comma-separated list such as USER,ADMIN,EDITOR',
  MAX_SESSIONS_PER_USER: 'use a whole number from 1 to 1000',
};

/**
 * Reads the environment once into a validated, frozen object. Only this module reads configuration;
 * everything else receives the object. In development a missing secret is generated and kept under DATA_DIR;
 * in production that, and the embedded database, are refused.
 */
export function loadConfig(env: Env): Config {
  const blankAsUnset = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const problems: string[] = [];
  const warnings: string[] = [];

  // Each variable on its own, so one bad value never hides the problems of the others.
  const parsed: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema.shape)) {
    const result = (schema as z.ZodType).safeParse(blankAsUnset[name]);
    if (result.success) {
      parsed[name] = result.data;
    } else {
      const hint = hints[name as keyof typeof hints];
      for (const issue of result.error.issues) problems.push(`${name}: ${issue.message}${hint ? ` (${hint})` : ''}`);
    }
  }
  const vars = parsed as Partial<z.infer<typeof envSchema>>;
  // An unreadable NODE_ENV counts as production for the checks below: the stricter reading reports more.
  const production = vars.NODE_ENV !== 'development' && vars.NODE_ENV !== 'test';
  const dataDir = resolve(vars.DATA_DIR ?? '.data');

  let databaseName = 'portcullis';
  if (vars.MONGODB_URI === undefined) {
    if (production && blankAsUnset['MONGODB_URI'] === undefined) {
      problems.push('MONGODB_URI: required in production; the embedded development database is refused (set it to your MongoDB connection string)');
    }
  } else {
    try {
      const name = new ConnectionString(vars.MONGODB_URI).pathname.replace(/^\//, '');
      if (name !== '') databaseName = decodeURIComponent(name);
    } catch {
      problems.push('MONGODB_URI: not a valid connection string (expected mongodb://host:port/database or mongodb+srv://…)');
    }
  }

  // Nothing configured at all means development: generated secrets, playground, introspection, the embedded
  // database. Convenient on a laptop; on an address others can reach, almost certainly a deployment that forgot
  // its environment.
  const unconfigured = ['NODE_ENV', 'MONGODB_URI', 'JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET'].every((name) => blankAsUnset[name] === undefined);
  if (unconfigured && vars.HOST !== undefined && !isLoopback(vars.HOST)) {
    const what = `HOST is ${vars.HOST}, not a loopback address, while NODE_ENV, MONGODB_URI, JWT_SECRET and REFRESH_TOKEN_HASH_SECRET are all unset: an insecure development gateway (generated secrets, playground and introspection on, embedded database) reachable from the network`;
    if (vars.ALLOW_INSECURE_DEV) warnings.push(`${what}. Allowed by ALLOW_INSECURE_DEV=true.`);
    else {
      problems.push(
        `HOST: ${what} is refused (set NODE_ENV=production with MONGODB_URI and both secrets, or listen on HOST=127.0.0.1, or set ALLOW_INSECURE_DEV=true if this is really meant)`,
      );
    }
  }

  let secretsSource: Config['secretsSource'] = 'environment';
  const hmac = (vars.JWT_ALGORITHM ?? 'HS256') === 'HS256';
  let jwtText = vars.JWT_SECRET;
  let refreshText = vars.REFRESH_TOKEN_HASH_SECRET;
  if ((hmac && jwtText === undefined) || refreshText === undefined) {
    if (production) {
      for (const name of hmac ? (['JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET'] as const) : (['REFRESH_TOKEN_HASH_SECRET'] as const)) {
        if (vars[name] === undefined) {
          problems.push(`${name}: required in production; generated development secrets are refused (generate one with ${GENERATE_SECRET_HINT})`);
        }
      }
    } else if (problems.length === 0) {
      // Only once everything else is valid: a refused configuration writes no files.
      const dev = loadOrCreateDevSecrets(dataDir);
      if (hmac) jwtText ??= dev.secrets.jwtSecret;
      refreshText ??= dev.secrets.refreshTokenHashSecret;
      secretsSource = 'generated';
      warnings.push(
        `Using development secrets ${dev.created ? 'generated now and ' : ''}stored in ${dev.path}. They are for development only: set JWT_SECRET and REFRESH_TOKEN_HASH_SECRET in production.`,
      );
    }
  }

  const jwtSecret = jwtText === undefined ? undefined : checkSecret('JWT_SECRET', jwtText, problems);
  const refreshTokenHashSecret = refreshText === undefined ? undefined : checkSecret('REFRESH_TOKEN_HASH_SECRET', refreshText, problems);
  const sameKey =
    jwtSecret !== undefined && refreshTokenHashSecret !== undefined && Buffer.from(jwtSecret.bytes()).equals(refreshTokenHashSecret.bytes());
  if (jwtText !== undefined && refreshText !== undefined && (jwtText.trim() === refreshText.trim() || sameKey)) {
    // Services that verify HS256 tokens hold JWT_SECRET; they must not be able to forge refresh-token hashes.
    problems.push('REFRESH_TOKEN_HASH_SECRET: must differ from JWT_SECRET (generate a second value)');
  }
  if (vars.SESSION_MAX_AGE_SECONDS !== undefined && vars.REFRESH_TOKEN_TTL_SECONDS !== undefined && vars.SESSION_MAX_AGE_SECONDS < vars.REFRESH_TOKEN_TTL_SECONDS) {
    problems.push('SESSION_MAX_AGE_SECONDS: must be at least REFRESH_TOKEN_TTL_SECONDS (the absolute session lifetime bounds the idle one)');
  }
  if (production && vars.SIGNUP_ENABLED) {
    warnings.push('SIGNUP_ENABLED is true: anyone who can reach the gateway can create an account.');
  }

  const mail = checkMail(vars, blankAsUnset, production, problems);

  if (!hmac && (vars.KEY_ROTATION_LEAD_SECONDS ?? 3600) < 60) {
    // Instances learn of a new key by polling every 30 s: a shorter lead lets one sign with a key another
    // does not know yet.
    warnings.push('KEY_ROTATION_LEAD_SECONDS is under 60: with more than one gateway instance, keep it at 60 or more.');
  }
  if (!hmac && jwtText !== undefined) {
    warnings.push(`JWT_SECRET is set but unused: JWT_ALGORITHM is ${vars.JWT_ALGORITHM}, so tokens are signed with key pairs.`);
  }
  const upstreams = readUpstreams(blankAsUnset, vars.UPSTREAMS, problems);
  const forwardHeaders = (vars.UPSTREAM_FORWARD_HEADERS ?? []).map((name) => name.toLowerCase());
  const subscriptions = readSubscriptionsConfig(blankAsUnset, upstreams, problems);
  for (const name of forwardHeaders) {
    if (isCredentialOrHopHeader(name)) {
      problems.push(
        `UPSTREAM_FORWARD_HEADERS: ${name} is never forwarded (client credentials, Host, hop-by-hop and X-Forwarded-* headers stay at the gateway; upstreams get the identity token instead): remove it`,
      );
    }
  }
  if (problems.length > 0 || (hmac && jwtSecret === undefined) || refreshTokenHashSecret === undefined || mail === undefined) {
    throw new ConfigError(problems);
  }
  const valid = vars as z.infer<typeof envSchema>;

  return deepFreeze({
    env: valid.NODE_ENV,
    http: { host: valid.HOST, port: valid.PORT },
    database: { uri: valid.MONGODB_URI, name: databaseName },
    dataDir,
    tokens: {
      algorithm: valid.JWT_ALGORITHM,
      jwtSecret: hmac ? jwtSecret : undefined,
      keyRotationLeadSeconds: valid.KEY_ROTATION_LEAD_SECONDS,
      refreshTokenHashSecret,
      issuer: valid.JWT_ISSUER,
      audience: valid.JWT_AUDIENCE,
      accessTokenTtlSeconds: valid.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: valid.REFRESH_TOKEN_TTL_SECONDS,
      sessionMaxAgeSeconds: valid.SESSION_MAX_AGE_SECONDS,
      clockToleranceSeconds: valid.CLOCK_TOLERANCE_SECONDS,
      refreshGraceSeconds: valid.REFRESH_GRACE_SECONDS,
      accessTokenCacheSize: valid.ACCESS_TOKEN_CACHE_SIZE,
    },
    metricsEnabled: valid.METRICS_ENABLED,
    allowedOrigins: valid.ALLOWED_ORIGINS,
    introspectionEnabled: valid.INTROSPECTION_ENABLED ?? valid.NODE_ENV !== 'production',
    playgroundEnabled: valid.PLAYGROUND_ENABLED ?? valid.NODE_ENV !== 'production',
    argon2: { memoryCost: valid.ARGON2_MEMORY_KIB, timeCost: valid.ARGON2_TIME_COST, parallelism: valid.ARGON2_PARALLELISM },
    passwordHashConcurrency: valid.PASSWORD_HASH_CONCURRENCY,
    revocations: { maxLagSeconds: valid.REVOCATION_MAX_LAG_SECONDS },
    signUpEnabled: valid.SIGNUP_ENABLED,
    mail,
    trustedProxies: valid.TRUSTED_PROXIES,
    maxSessionsPerUser: valid.MAX_SESSIONS_PER_USER,
    logLevel: valid.LOG_LEVEL,
    upstreams: {
      list: upstreams,
      schemaPollSeconds: valid.UPSTREAM_SCHEMA_POLL_SECONDS,
      timeoutMs: valid.UPSTREAM_TIMEOUT_MS,
      forwardHeaders: [...new Set(forwardHeaders)],
      errorCodesPassed: valid.UPSTREAM_ERROR_CODES_PASSED,
    },
    authorizationMode: valid.AUTHORIZATION_MODE,
    roles: [...new Set([...valid.ROLES, ...BUILT_IN_ROLES])],
    subscriptions,
    secretsSource,
    warnings,
  });
}

/**
 * SMTP_URL decides the delivery. Its problems never quote it: it holds a password. PUBLIC_URL is required with
 * SMTP (links must point where users are); the development log sink falls back to the listening address.
 */
function checkMail(
  vars: Partial<z.infer<typeof envSchema>>,
  given: Record<string, string | undefined>,
  production: boolean,
  problems: string[],
): MailConfig | undefined {
  const before = problems.length;
  let smtpUrl: SecretText | undefined;
  let smtpServer: string | undefined;
  if (vars.SMTP_URL !== undefined) {
    try {
      const url = new URL(vars.SMTP_URL);
      if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('scheme');
      if (url.hostname === '') throw new Error('host');
      smtpUrl = new SecretText(vars.SMTP_URL);
      smtpServer = `${url.protocol}//${url.host}`;
    } catch {
      problems.push('SMTP_URL: not a valid SMTP URL (expected smtps://user:password@mail.example.com:465 or smtp://host:587)');
    }
  } else if (given['SMTP_URL'] === undefined && production) {
    for (const [name, on] of [['SIGNUP_ENABLED', vars.SIGNUP_ENABLED], ['REQUIRE_VERIFIED_EMAIL', vars.REQUIRE_VERIFIED_EMAIL]] as const) {
      if (on) problems.push(`SMTP_URL: required in production when ${name}=true (new accounts are sent a verification link; set SMTP_URL to your mail server)`);
    }
  }
  const delivery: MailDelivery = given['SMTP_URL'] !== undefined ? 'smtp' : production ? 'off' : 'log';

  let publicUrl: string | undefined;
  if (vars.PUBLIC_URL !== undefined) {
    try {
      const url = new URL(vars.PUBLIC_URL);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
      if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw new Error('extras');
      if (production && url.protocol !== 'https:') {
        problems.push('PUBLIC_URL: must be https in production (links in mail carry one-time tokens)');
      }
      publicUrl = url.href.replace(/\/+$/, '');
    } catch {
      problems.push('PUBLIC_URL: not a valid URL (expected https://auth.example.com, optionally with a path, no query or fragment)');
    }
  } else if (delivery === 'smtp') {
    problems.push('PUBLIC_URL: required when SMTP_URL is set (links in mail point at it; e.g. https://auth.example.com)');
  }
  if (delivery === 'smtp' && vars.MAIL_FROM === undefined && given['MAIL_FROM'] === undefined) {
    problems.push('MAIL_FROM: required when SMTP_URL is set (the sender of account mail, e.g. "Portcullis <no-reply@example.com>")');
  }
  if (problems.length > before) return undefined;
  const host = vars.HOST ?? '127.0.0.1';
  return {
    delivery,
    smtpUrl,
    smtpServer,
    from: vars.MAIL_FROM ?? 'Portcullis <no-reply@localhost>',
    publicUrl: publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${vars.PORT ?? 4000}`,
    timeoutMs: vars.MAIL_TIMEOUT_MS ?? 10_000,
    passwordResetTtlSeconds: vars.PASSWORD_RESET_TTL_SECONDS ?? 900,
    emailVerificationTtlSeconds: vars.EMAIL_VERIFICATION_TTL_SECONDS ?? 86_400,
    requireVerifiedEmail: vars.REQUIRE_VERIFIED_EMAIL ?? false,
  };
}

/** An address or a CIDR range in the spelling proxy-addr (Express's trust-proxy matcher) reads. */
function isProxyEntry(entry: string): boolean {
  if (!ipaddr.isValid(entry) && !ipaddr.isValidCIDR(entry)) return false;
  // A /0 trusts every peer: any client could then name its own address in X-Forwarded-For.
  if (ipaddr.isValidCIDR(entry) && ipaddr.parseCIDR(entry)[1] === 0) return false;
  try {
    proxyaddr.compile(entry);
    return true;
  } catch {
    return false;
  }
}

const UPSTREAM_NAME = /^[a-z][a-z0-9_]*$/;
const POLL_VARIABLE = 'UPSTREAM_SCHEMA_POLL_SECONDS';

/** UPSTREAMS (`name=url,…`) and each upstream's UPSTREAM_SCHEMA_<NAME>; every problem is reported. */
function readUpstreams(env: Env, text: string | undefined, problems: string[]): UpstreamConfig[] {
  const found: UpstreamConfig[] = [];
  const example = 'e.g. UPSTREAMS=shop=http://127.0.0.1:4001/graphql,billing=https://billing.internal/graphql';
  for (const entry of (text ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const at = entry.indexOf('=');
    if (at <= 0) {
      problems.push(`UPSTREAMS: "${entry}" is not name=url (${example})`);
      continue;
    }
    const name = entry.slice(0, at).trim();
    const url = entry.slice(at + 1).trim();
    let ok = true;
    if (!UPSTREAM_NAME.test(name)) {
      problems.push(`UPSTREAMS: the name "${name}" must match [a-z][a-z0-9_]* (lower case letters, digits, _; a letter first)`);
      ok = false;
    } else if (`${UPSTREAM_SCHEMA_PREFIX}${name.toUpperCase()}` === POLL_VARIABLE) {
      problems.push(`UPSTREAMS: the name "${name}" is reserved (its schema variable would be ${POLL_VARIABLE}): choose another`);
      ok = false;
    }
    if (!isHttpUrl(url)) {
      problems.push(`UPSTREAMS: the URL of "${name}" must be an http:// or https:// URL (${example})`);
      ok = false;
    }
    if (found.some((upstream) => upstream.name === name)) {
      problems.push(`UPSTREAMS: "${name}" is listed twice; give each upstream one entry and a name of its own`);
      ok = false;
    }
    if (!ok) continue;
    const file = env[`${UPSTREAM_SCHEMA_PREFIX}${name.toUpperCase()}`];
    found.push({ name, url, schemaFile: file === undefined ? undefined : resolve(file) });
  }
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith(UPSTREAM_SCHEMA_PREFIX) || variable === POLL_VARIABLE) continue;
    const name = variable.slice(UPSTREAM_SCHEMA_PREFIX.length).toLowerCase();
    if (!found.some((upstream) => upstream.name === name) && !problems.some((problem) => problem.includes(`"${name}"`))) {
      problems.push(`${variable}: names no upstream in UPSTREAMS; add ${name}=<url> to UPSTREAMS or remove the variable`);
    }
  }
  return found;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** `localhost` or an address in 127.0.0.0/8 or ::1 (IPv4-mapped included). Any other name may resolve anywhere. */
function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const NEVER_FORWARDED = new Set(['cookie', 'authorization', 'host', 'forwarded', 'content-length', 'content-type', 'x-real-ip']);

function isCredentialOrHopHeader(name: string): boolean {
  return HOP_BY_HOP.has(name) || NEVER_FORWARDED.has(name) || name.startsWith('x-forwarded-');
}

function checkSecret(name: string, text: string, problems: string[]): Secret | undefined {
  const result = parseSecret(text);
  if (result.ok) return result.secret;
  problems.push(`${name}: ${result.problem} (generate one with ${GENERATE_SECRET_HINT})`);
  return undefined;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object' && !Object.isFrozen(child)) deepFreeze(child as object);
  }
  return Object.freeze(value);
}
