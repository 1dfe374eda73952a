import { resolve } from 'node:path';
import { z } from 'zod';
import { list, seconds, type Env, type ParsedVariables } from './fields.js';

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

/** The part of Config that gateway mode reads. */
export interface GatewayConfig {
  /** Gateway mode: the APIs behind the gateway. An empty list serves only the gateway's own schema. */
  readonly upstreams: {
    readonly list: readonly UpstreamConfig[];
    /** How often each upstream's schema is loaded again (0: never). */
    readonly schemaPollSeconds: number;
    readonly timeoutMs: number;
    /** The longest answer read from an upstream (schema loading included); a longer one is cut off. */
    readonly maxResponseBytes: number;
    /** Lower-cased client header names copied to upstream calls. */
    readonly forwardHeaders: readonly string[];
    /** Upstream error codes whose messages reach clients in production. */
    readonly errorCodesPassed: readonly string[];
  };
  /** filter: denied upstream fields answer null with an error; reject: any denial refuses the operation. */
  readonly authorizationMode: AuthorizationMode;
  /** The roles users may hold: ROLES plus the built-in USER and ADMIN. */
  readonly roles: readonly string[];
}

/** The gateway-mode variables, their defaults and bounds (part of config.ts's one schema, in this order). */
export const GATEWAY_VARIABLES = {
  UPSTREAMS: z.string().optional(),
  UPSTREAM_SCHEMA_POLL_SECONDS: seconds(0, 86400).default(60),
  // Below the 15 s request timeout (app.ts), so an upstream that hangs answers UPSTREAM_UNAVAILABLE, not a cut connection.
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(14_000).default(5000),
  // Past V8's string limit (about 512 MiB) a body cannot even be read: the cap stays well below it.
  UPSTREAM_MAX_RESPONSE_BYTES: z.coerce.number().int().min(1024).max(256 * 1024 * 1024).default(8 * 1024 * 1024),
  UPSTREAM_FORWARD_HEADERS: list(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'each entry must be a header name')).default([]),
  UPSTREAM_ERROR_CODES_PASSED: list(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'each code must look like BAD_USER_INPUT')).default([
    'BAD_USER_INPUT',
    'NOT_FOUND',
    'FORBIDDEN',
    'UNAUTHENTICATED',
  ]),
  AUTHORIZATION_MODE: z.enum(['filter', 'reject']).default('filter'),
  ROLES: list(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'each role must be upper case, like EDITOR or SUPPORT_AGENT')).default([...BUILT_IN_ROLES]),
};

export const GATEWAY_HINTS: Readonly<Partial<Record<keyof typeof GATEWAY_VARIABLES, string>>> = {
  UPSTREAM_SCHEMA_POLL_SECONDS: 'use whole seconds from 0 (never poll) to 86400',
  UPSTREAM_TIMEOUT_MS: 'use milliseconds from 100 to 14000; it must stay below the 15 s request timeout',
  UPSTREAM_MAX_RESPONSE_BYTES: 'use bytes from 1024 to 268435456 (256 MiB); the default is 8388608 (8 MiB)',
  UPSTREAM_FORWARD_HEADERS: 'a comma-separated list of header names such as accept-language,x-request-id',
  UPSTREAM_ERROR_CODES_PASSED: 'a comma-separated list of extensions.code values such as BAD_USER_INPUT,NOT_FOUND',
  AUTHORIZATION_MODE: 'use filter (denied fields answer null) or reject (any denied field refuses the operation)',
  ROLES: 'a comma-separated list such as USER,ADMIN,EDITOR',
};

/** Variables named by a pattern, one per upstream; documented as one row each. */
export const UPSTREAM_SCHEMA_PREFIX = 'UPSTREAM_SCHEMA_';
export const GATEWAY_PATTERN_VARIABLES: readonly string[] = [`${UPSTREAM_SCHEMA_PREFIX}<NAME>`];

/**
 * UPSTREAMS with each upstream's schema file, and the forwarded headers, checked beyond their syntax; every
 * problem is added to `problems`. Undefined when any gateway variable was refused.
 */
export function readGateway(vars: ParsedVariables<typeof GATEWAY_VARIABLES>, env: Env, problems: string[]): GatewayConfig | undefined {
  const upstreams = readUpstreams(env, vars.UPSTREAMS, problems);
  const forwardHeaders = (vars.UPSTREAM_FORWARD_HEADERS ?? []).map((name) => name.toLowerCase());
  for (const name of forwardHeaders) {
    if (isCredentialOrHopHeader(name)) {
      problems.push(
        `UPSTREAM_FORWARD_HEADERS: ${name} is never forwarded (client credentials, Host, hop-by-hop and X-Forwarded-* headers stay at the gateway; upstreams get the identity token instead): remove it`,
      );
    }
  }
  const { UPSTREAM_SCHEMA_POLL_SECONDS: poll, UPSTREAM_TIMEOUT_MS: timeoutMs, UPSTREAM_MAX_RESPONSE_BYTES: maxResponseBytes, UPSTREAM_ERROR_CODES_PASSED: passed, AUTHORIZATION_MODE: mode, ROLES: roles } = vars;
  if (poll === undefined || timeoutMs === undefined || maxResponseBytes === undefined || passed === undefined || mode === undefined || roles === undefined) return undefined;
  return {
    upstreams: {
      list: upstreams,
      schemaPollSeconds: poll,
      timeoutMs,
      maxResponseBytes,
      forwardHeaders: [...new Set(forwardHeaders)],
      errorCodesPassed: passed,
    },
    authorizationMode: mode,
    roles: [...new Set([...roles, ...BUILT_IN_ROLES])],
  };
}

const UPSTREAM_NAME = /^[a-z][a-z0-9_]*$/;
const POLL_VARIABLE = 'UPSTREAM_SCHEMA_POLL_SECONDS';

/** UPSTREAMS (`name=url,…`) and each upstream's UPSTREAM_SCHEMA_<NAME>; every problem is reported. */
function readUpstreams(env: Env, text: string | undefined, problems: string[]): UpstreamConfig[] {
  const found: UpstreamConfig[] = [];
  const example = 'e.g. UPSTREAMS=shop=http://127.0.0.1:4001/graphql,billing=https://billing.internal/graphql';
  const entries = (text ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const [index, entry] of entries.entries()) {
    const at = entry.indexOf('=');
    if (at <= 0) {
      problems.push(`UPSTREAMS: ${quoted(entry, index)} is not name=url (${example})`);
      continue;
    }
    const name = entry.slice(0, at).trim();
    const url = entry.slice(at + 1).trim();
    let ok = true;
    if (!UPSTREAM_NAME.test(name)) {
      problems.push(`UPSTREAMS: the name ${quoted(name, index)} must match [a-z][a-z0-9_]* (lower case letters, digits, _; a letter first)`);
      ok = false;
    } else if (`${UPSTREAM_SCHEMA_PREFIX}${name.toUpperCase()}` === POLL_VARIABLE) {
      problems.push(`UPSTREAMS: the name "${name}" is reserved (its schema variable would be ${POLL_VARIABLE}): choose another`);
      ok = false;
    }
    if (!isHttpUrl(url)) {
      problems.push(`UPSTREAMS: the URL of ${quoted(name, index)} must be an http:// or https:// URL (${example})`);
      ok = false;
    } else if (hasUserinfo(url)) {
      // Never quoted: the part before @ is a password. Logs show upstream URLs, and a URL is no place for one.
      problems.push(
        `UPSTREAMS: the URL of ${quoted(name, index)} carries a user name or password (user:password@host); remove it (upstreams authenticate the gateway by its identity token, see docs/gateway.md)`,
      );
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

/**
 * An upstream URL as logs and problems show it: scheme://host:port/path, without user name, password, query
 * or fragment (an `?api_key=` is used in calls, never shown). Unparsable text shows as a placeholder.
 */
export function urlForDisplay(text: string): string {
  try {
    const url = new URL(text);
    const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '';
    return `${url.protocol}//${url.hostname}${port === '' ? '' : `:${port}`}${url.pathname}`;
  } catch {
    return '(an unparsable URL, not shown)';
  }
}

/** Text the user wrote, quoted when it cannot hold a URL or credential, else named by its place in the list. */
function quoted(text: string, index: number): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(text) ? `"${text}"` : `entry ${index + 1} (not shown)`;
}

function hasUserinfo(text: string): boolean {
  const url = new URL(text);
  return url.username !== '' || url.password !== '';
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const NEVER_FORWARDED = new Set(['cookie', 'authorization', 'host', 'forwarded', 'content-length', 'content-type', 'x-real-ip']);

function isCredentialOrHopHeader(name: string): boolean {
  return HOP_BY_HOP.has(name) || NEVER_FORWARDED.has(name) || name.startsWith('x-forwarded-');
}
