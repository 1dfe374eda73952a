import type { Env } from './config.js';

/** How the gateway opens an upstream's subscriptions: graphql-ws, graphql-sse (distinct connections), or not at all. */
export type UpstreamSubscriptionMode = 'ws' | 'sse' | 'off';

export interface UpstreamSubscriptionConfig {
  readonly mode: UpstreamSubscriptionMode;
  /** ws(s):// for `ws`, http(s):// for `sse`; derived from the upstream's URL unless set. */
  readonly url: string;
}

/** Live operations (src/live/): limits of the WebSocket and SSE transports, and how upstream subscriptions are opened. */
export interface SubscriptionsConfig {
  /** Operations one WebSocket connection may run at once (SUBSCRIPTIONS_PER_CONNECTION). */
  readonly perConnection: number;
  /** Live connections (WebSocket and SSE) one session may hold on one instance. */
  readonly connectionsPerSession: number;
  /** Live connections one client address may hold on one instance. */
  readonly connectionsPerAddress: number;
  /** The largest message a client may send over the WebSocket. */
  readonly maxMessageBytes: number;
  /** Events queued for one slow client before its connection is dropped. */
  readonly maxBufferedEvents: number;
  /** `connection_init` must arrive within this. */
  readonly initTimeoutMs: number;
  /** Ping period; a peer that has not answered the previous ping by the next is dropped. */
  readonly keepAliveMs: number;
  /** By upstream name. */
  readonly upstreams: ReadonlyMap<string, UpstreamSubscriptionConfig>;
}

export const SUBSCRIPTION_VARIABLES: readonly string[] = Object.freeze([
  'SUBSCRIPTIONS_PER_CONNECTION',
  'SUBSCRIPTION_CONNECTIONS_PER_SESSION',
  'SUBSCRIPTION_CONNECTIONS_PER_ADDRESS',
  'SUBSCRIPTION_MAX_MESSAGE_BYTES',
  'SUBSCRIPTION_MAX_BUFFERED_EVENTS',
  'SUBSCRIPTION_KEEPALIVE_SECONDS',
  'UPSTREAM_SUBSCRIPTIONS_<NAME>',
  'UPSTREAM_SUBSCRIPTIONS_URL_<NAME>',
]);

const MODE_PREFIX = 'UPSTREAM_SUBSCRIPTIONS_';
const URL_PREFIX = 'UPSTREAM_SUBSCRIPTIONS_URL_';
/** The graphql-transport-ws recommendation; not a setting: a slow client gets no longer to say who it is. */
const INIT_TIMEOUT_MS = 3000;

/**
 * Reads the live-operation settings; every problem goes into `problems` (the one ConfigError lists them all).
 * `upstreams` are the names and URLs from UPSTREAMS, already checked.
 */
export function readSubscriptionsConfig(env: Env, upstreams: ReadonlyArray<{ name: string; url: string }>, problems: string[]): SubscriptionsConfig {
  const int = (name: string, fallback: number, min: number, max: number, hint: string): number => {
    const text = env[name];
    if (text === undefined || text.trim() === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}: ${hint}`);
      return fallback;
    }
    return value;
  };
  const byName = new Map<string, UpstreamSubscriptionConfig>();
  for (const upstream of upstreams) {
    const suffix = upstream.name.toUpperCase();
    const modeText = (env[`${MODE_PREFIX}${suffix}`] ?? '').trim() || 'ws';
    if (modeText !== 'ws' && modeText !== 'sse' && modeText !== 'off') {
      problems.push(`${MODE_PREFIX}${suffix}: use ws (graphql-ws), sse (graphql-sse) or off`);
      continue;
    }
    const explicit = (env[`${URL_PREFIX}${suffix}`] ?? '').trim();
    let url = explicit || derivedUrl(upstream.url, modeText);
    if (explicit) {
      const wanted = modeText === 'ws' ? ['ws:', 'wss:'] : ['http:', 'https:'];
      let protocol = '';
      try {
        protocol = new URL(explicit).protocol;
      } catch {
        protocol = '';
      }
      if (!wanted.includes(protocol)) {
        problems.push(`${URL_PREFIX}${suffix}: must be a ${wanted.join(' or ')} URL for mode ${modeText}`);
        url = derivedUrl(upstream.url, modeText);
      }
    }
    byName.set(upstream.name, { mode: modeText, url });
  }
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith(MODE_PREFIX) || env[variable] === undefined) continue;
    const name = (variable.startsWith(URL_PREFIX) ? variable.slice(URL_PREFIX.length) : variable.slice(MODE_PREFIX.length)).toLowerCase();
    if (!upstreams.some((upstream) => upstream.name === name)) {
      problems.push(`${variable}: names no upstream in UPSTREAMS; add ${name}=<url> to UPSTREAMS or remove the variable`);
    }
  }
  return {
    perConnection: int('SUBSCRIPTIONS_PER_CONNECTION', 20, 1, 1000, 'use a whole number from 1 to 1000'),
    connectionsPerSession: int('SUBSCRIPTION_CONNECTIONS_PER_SESSION', 8, 1, 1000, 'use a whole number from 1 to 1000'),
    connectionsPerAddress: int('SUBSCRIPTION_CONNECTIONS_PER_ADDRESS', 256, 1, 100_000, 'use a whole number from 1 to 100000'),
    maxMessageBytes: int('SUBSCRIPTION_MAX_MESSAGE_BYTES', 64 * 1024, 1024, 1024 * 1024, 'use bytes from 1024 to 1048576'),
    maxBufferedEvents: int('SUBSCRIPTION_MAX_BUFFERED_EVENTS', 100, 1, 100_000, 'use a whole number from 1 to 100000'),
    initTimeoutMs: INIT_TIMEOUT_MS,
    keepAliveMs: int('SUBSCRIPTION_KEEPALIVE_SECONDS', 12, 1, 300, 'use whole seconds from 1 to 300') * 1000,
    upstreams: byName,
  };
}

/** The upstream's own URL with ws(s):// for graphql-ws; the same URL for graphql-sse. */
function derivedUrl(httpUrl: string, mode: UpstreamSubscriptionMode): string {
  if (mode !== 'ws') return httpUrl;
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
