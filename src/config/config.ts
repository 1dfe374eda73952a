import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { ConnectionString } from 'mongodb-connection-string-url';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { loadOrCreateDevSecrets } from './dev-secrets.js';
import { flag, list, seconds, type Env } from './fields.js';
import { BUILT_IN_ROLES, GATEWAY_HINTS, GATEWAY_PATTERN_VARIABLES, GATEWAY_VARIABLES, readGateway, type GatewayConfig } from './gateway.js';
import { checkMail, MAIL_HINTS, MAIL_VARIABLES, type MailConfig } from './mail.js';
import { GENERATE_SECRET_HINT, parseSecret, type Secret } from './secret.js';

export type { Env } from './fields.js';
export { BUILT_IN_ROLES, UPSTREAM_SCHEMA_PREFIX, type AuthorizationMode, type GatewayConfig, type UpstreamConfig } from './gateway.js';
export type { MailConfig, MailDelivery } from './mail.js';
import { OIDC_PATTERN_VARIABLES, readOidcConfig, type OidcConfig } from './oidc.js';
import { performanceHints, performanceVariables, readPerformance, type PerformanceConfig } from './performance.js';
import { MFA_VARIABLES, readMfaConfig, type MfaConfig } from './mfa.js';
import { readWorkers, WORKERS_VARIABLES } from './workers.js';
import { readSubscriptionsConfig, SUBSCRIPTION_VARIABLES, type SubscriptionsConfig } from './subscriptions.js';

export type RuntimeEnv = 'development' | 'test' | 'production';
export const SIGNING_ALGORITHM_NAMES = ['HS256', 'EdDSA', 'ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithmName = (typeof SIGNING_ALGORITHM_NAMES)[number];
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export interface Config extends GatewayConfig {
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
  /** Sign-in through OpenID Connect providers (config/oidc.ts); no providers: password sign-in only. */
  readonly oidc: OidcConfig;
  /** UPSTREAM_DEDUPLICATE (src/config/performance.ts). */
  readonly performance: PerformanceConfig;
  /** WebSocket and SSE subscriptions (src/live/): limits and upstream transports. */
  readonly subscriptions: SubscriptionsConfig;
  /** Where the secrets came from; "generated" is for development only and is refused in production. */
  readonly secretsSource: 'environment' | 'generated';
  /** Things worth a warning at start (logged by main once a logger exists). */
  readonly warnings: readonly string[];
  /** Passkeys, the second factor and re-authentication (src/config/mfa.ts). */
  readonly mfa: MfaConfig;
  /** WORKERS: gateway processes on the one port (node:cluster); 1 runs no supervisor (src/config/workers.ts). */
  readonly workers: number;
}

/** Every problem found, each with how to fix it. Thrown once, with all of them. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

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
  ...MAIL_VARIABLES,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ALLOW_INSECURE_DEV: flag.default(false),
  TRUSTED_PROXIES: z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(z.string().refine(isProxyEntry, 'each entry must be an IP address or a CIDR range (10.0.0.0/8, fd00::/8), and not /0')))
    .default([]),
  ...GATEWAY_VARIABLES,
  MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).max(1000).default(50),
  // Read with its OIDC_<NAME>_* settings by config/oidc.ts.
  OIDC_PROVIDERS: z.string().optional(),
  ...performanceVariables,
});

/** Variables named by a pattern, one per upstream; documented as one row each. */
const PATTERN_VARIABLES = [...GATEWAY_PATTERN_VARIABLES, ...OIDC_PATTERN_VARIABLES];

/** Every variable the gateway reads; `.env.example` and the table in docs/configuration.md list exactly these. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze([...Object.keys(envSchema.shape), ...PATTERN_VARIABLES, ...MFA_VARIABLES, ...WORKERS_VARIABLES, ...SUBSCRIPTION_VARIABLES]);

const hints: Partial<Record<keyof z.infer<typeof envSchema>, string>> = {
  ...MAIL_HINTS,
  ...GATEWAY_HINTS,
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
  LOG_LEVEL: 'use fatal, error, warn, info, debug, trace or silent',
  ALLOW_INSECURE_DEV: 'use true or false',
  TRUSTED_PROXIES: 'the addresses or CIDR ranges of your own reverse proxies, comma-separated, such as 10.0.0.5,fd00::/8; never a range that clients share',
  MAX_SESSIONS_PER_USER: 'use a whole number from 1 to 1000',
  ...performanceHints,
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
  const gateway = readGateway(vars, blankAsUnset, problems);
  const oidc = readOidcConfig(blankAsUnset, { production, publicUrl: mail?.publicUrl ?? '', publicUrlSet: vars.PUBLIC_URL !== undefined }, problems);
  const mfa = readMfaConfig(
    blankAsUnset,
    { publicUrl: mail?.publicUrl, knownRoles: [...new Set([...(vars.ROLES ?? []), ...BUILT_IN_ROLES])], production },
    problems,
  );
  const workers = readWorkers(blankAsUnset, problems);
  const subscriptions = readSubscriptionsConfig(blankAsUnset, gateway?.upstreams.list ?? [], problems);
  if (problems.length > 0 || (hmac && jwtSecret === undefined) || refreshTokenHashSecret === undefined || mail === undefined || gateway === undefined) {
    throw new ConfigError(problems);
  }
  if (mfa === undefined) throw new ConfigError(problems);
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
    ...gateway,
    oidc,
    performance: readPerformance(valid),
    subscriptions,
    secretsSource,
    warnings,
    mfa,
    workers,
  });
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

/** `localhost` or an address in 127.0.0.0/8 or ::1 (IPv4-mapped included). Any other name may resolve anywhere. */
function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
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
