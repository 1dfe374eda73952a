import type { GraphQLSchema } from 'graphql';
import { ConfigError, UPSTREAM_SCHEMA_PREFIX, type UpstreamConfig } from '../config/config.js';
import { urlForDisplay } from '../config/gateway.js';
import type { Logger } from '../logger.js';
import { compose, type Composition, type LoadedUpstream } from './compose.js';
import { createUpstreamExecutor } from './executor.js';
import { buildUpstreamSchema, fetchIntrospectionSdl, fetchServiceSdl, readSchemaFile, type SchemaSource, type UpstreamSdl } from './sdl.js';

export interface RegistryOptions {
  readonly upstreams: readonly UpstreamConfig[];
  readonly ownSchema: GraphQLSchema;
  readonly knownRoles: readonly string[];
  readonly timeoutMs: number;
  /** UPSTREAM_MAX_RESPONSE_BYTES, for schema loading and every call alike. */
  readonly maxResponseBytes: number;
  /** 0: load once (with retries until it succeeds), never again. */
  readonly pollSeconds: number;
  readonly logger: Logger;
}

export interface UpstreamRegistry {
  /**
   * Loads every schema once. Problems in SDL files, and any collision or unknown role among what loaded, throw a
   * ConfigError listing them all. An upstream that cannot be reached is retried with backoff in the background.
   */
  start(): Promise<Composition>;
  current(): Composition;
  /** Called with every new composition after start. */
  onUpdate(listener: (composition: Composition) => void): () => void;
  /**
   * Called with the upstream's name each time a poll finds no `_service` SDL where the loaded schema has
   * directives: introspection was refused and the schema, rules included, kept (metrics count it).
   */
  onIntrospectionRefused(listener: (upstream: string) => void): () => void;
  /** Every upstream's schema has loaded at least once. */
  isReady(): boolean;
  stop(): void;
}

interface UpstreamState {
  readonly config: UpstreamConfig;
  readonly executor: ReturnType<typeof createUpstreamExecutor>;
  loaded: (LoadedUpstream & { text: string; source: SchemaSource }) | undefined;
  warnedIntrospection: boolean;
  /** Polls currently find no `_service` SDL and keep the schema that has directives (warned once per episode). */
  refusingIntrospection: boolean;
  retryMs: number;
  timer: NodeJS.Timeout | undefined;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

/**
 * The live set of upstream schemas: loaded at start, retried with backoff while an upstream is down, polled
 * every UPSTREAM_SCHEMA_POLL_SECONDS. A change that composes replaces the whole composition at once (requests in
 * flight finish on the one they started with); one that does not is refused, logged, and the old one kept.
 */
export function createUpstreamRegistry(options: RegistryOptions): UpstreamRegistry {
  const { ownSchema, knownRoles, logger, pollSeconds } = options;
  const states: UpstreamState[] = options.upstreams.map((config) => ({
    config,
    executor: createUpstreamExecutor({ name: config.name, url: config.url, timeoutMs: options.timeoutMs, maxResponseBytes: options.maxResponseBytes }),
    loaded: undefined,
    warnedIntrospection: false,
    refusingIntrospection: false,
    retryMs: FIRST_RETRY_MS,
    timer: undefined,
  }));
  const maxRetryMs = pollSeconds > 0 ? Math.min(MAX_RETRY_MS, pollSeconds * 1000) : MAX_RETRY_MS;
  const listeners = new Set<(composition: Composition) => void>();
  const refusalListeners = new Set<(upstream: string) => void>();
  let current: Composition | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const where = (name: string): string => {
    const config = options.upstreams.find((upstream) => upstream.name === name);
    if (config?.schemaFile) return `${UPSTREAM_SCHEMA_PREFIX}${name.toUpperCase()} (${config.schemaFile})`;
    // Never the URL as configured: its query may hold an API key.
    return `upstream ${name} (${config ? urlForDisplay(config.url) : '?'})`;
  };

  /**
   * The SDL of one upstream now: its file, or what the upstream serves. Undefined when the upstream answers no
   * `_service` SDL while the loaded schema came with directives (from a file or `_service`): introspection
   * carries none, so taking it would drop every rule below the root fields until the next good poll. Throws on
   * failure.
   */
  async function loadText(state: UpstreamState): Promise<UpstreamSdl | undefined> {
    const { config } = state;
    if (config.schemaFile) return { text: await readSchemaFile(`${UPSTREAM_SCHEMA_PREFIX}${config.name.toUpperCase()}`, config.schemaFile), source: 'file' };
    const served = await fetchServiceSdl(state.executor);
    if (served) return served;
    if (state.loaded && state.loaded.source !== 'introspection') return undefined;
    return fetchIntrospectionSdl(state.executor);
  }

  function refuseIntrospection(state: UpstreamState): void {
    const { name } = state.config;
    if (!state.refusingIntrospection) {
      state.refusingIntrospection = true;
      logger.warn(
        { upstream: name },
        `upstream ${name} no longer answers { _service { sdl } } (GraphQL errors or no SDL): keeping its previous schema and rules; introspection carries no directives and is not used in their place. Polls go on; fix the upstream's _service, or set ${UPSTREAM_SCHEMA_PREFIX}${name.toUpperCase()} to an SDL file.`,
      );
    }
    for (const listener of refusalListeners) listener(name);
  }

  function candidate(state: UpstreamState, text: string, source: SchemaSource): LoadedUpstream & { text: string; source: SchemaSource } {
    const built = buildUpstreamSchema(where(state.config.name), text);
    return { name: state.config.name, document: built.document, schema: built.schema, executor: state.executor, text, source };
  }

  function composeWith(replaced: UpstreamState | undefined, next: LoadedUpstream | undefined): ReturnType<typeof compose> {
    const loaded: LoadedUpstream[] = [];
    for (const state of states) {
      const upstream = state === replaced ? next : state.loaded;
      if (upstream) loaded.push(upstream);
    }
    return compose({ ownSchema, upstreams: loaded, knownRoles, where });
  }

  function noteIntrospection(state: UpstreamState, source: SchemaSource): void {
    if (source === 'introspection' && !state.warnedIntrospection) {
      state.warnedIntrospection = true;
      logger.warn(
        { upstream: state.config.name },
        `upstream ${state.config.name} answers neither an SDL file nor { _service { sdl } }: its schema comes from introspection, which carries no directives, so every one of its root fields needs a signed-in user. Set ${UPSTREAM_SCHEMA_PREFIX}${state.config.name.toUpperCase()} to an SDL file with @authorized/@public to decide otherwise.`,
      );
    }
  }

  /** One load after start: swap in what composes, keep the old otherwise. */
  async function reload(state: UpstreamState): Promise<boolean> {
    let loaded: UpstreamSdl | undefined;
    try {
      loaded = await loadText(state);
    } catch (error) {
      logger.warn({ upstream: state.config.name, err: { message: (error as Error).message } }, `cannot load the schema of upstream ${state.config.name}`);
      return false;
    }
    if (stopped) return false;
    if (!loaded) {
      refuseIntrospection(state);
      return true;
    }
    const { text, source } = loaded;
    if (state.refusingIntrospection && source !== 'introspection') {
      state.refusingIntrospection = false;
      logger.info({ upstream: state.config.name }, `upstream ${state.config.name} answers { _service { sdl } } again`);
    }
    if (state.loaded && state.loaded.text === text) return true;
    let next: ReturnType<typeof candidate>;
    try {
      next = candidate(state, text, source);
    } catch (error) {
      logger.error({ upstream: state.config.name }, `refused the new schema of upstream ${state.config.name}, keeping the previous one: ${(error as Error).message}`);
      return state.loaded !== undefined;
    }
    const result = composeWith(state, next);
    if (!result.ok) {
      logger.error(
        { upstream: state.config.name, problems: result.problems },
        `refused the new schema of upstream ${state.config.name}, keeping the previous one: ${result.problems.join('; ')}`,
      );
      return state.loaded !== undefined;
    }
    noteIntrospection(state, source);
    const first = state.loaded === undefined;
    state.loaded = next;
    current = result.composition;
    logger.info({ upstream: state.config.name, source }, first ? `loaded the schema of upstream ${state.config.name}` : `the schema of upstream ${state.config.name} changed`);
    for (const listener of listeners) listener(result.composition);
    return true;
  }

  function scheduleRetry(state: UpstreamState): void {
    if (stopped) return;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void reload(state).then((ok) => {
        if (ok && state.loaded) state.retryMs = FIRST_RETRY_MS;
        else {
          state.retryMs = Math.min(maxRetryMs, state.retryMs * 2);
          scheduleRetry(state);
        }
      });
    }, state.retryMs);
    state.timer.unref();
  }

  async function poll(): Promise<void> {
    // Upstreams still retrying are on their own schedule.
    await Promise.all(states.filter((state) => state.loaded && !state.timer).map((state) => reload(state)));
  }

  return {
    async start(): Promise<Composition> {
      const problems: string[] = [];
      await Promise.all(
        states.map(async (state) => {
          let loaded: UpstreamSdl | undefined;
          try {
            // Nothing is loaded yet, so this always gives an SDL (introspection included).
            loaded = await loadText(state);
            if (!loaded) throw new Error('no schema');
          } catch (error) {
            if (state.config.schemaFile) problems.push((error as Error).message);
            else {
              logger.warn(
                { upstream: state.config.name, err: { message: (error as Error).message } },
                `upstream ${state.config.name} is not available yet; the gateway serves without it and keeps trying`,
              );
            }
            return;
          }
          // An SDL that was read but does not build is a problem with what the gateway was pointed at, file or
          // served: refused now, like a collision, rather than retried forever.
          try {
            state.loaded = candidate(state, loaded.text, loaded.source);
            noteIntrospection(state, loaded.source);
          } catch (error) {
            problems.push((error as Error).message);
          }
        }),
      );
      const result = composeWith(undefined, undefined);
      if (!result.ok) problems.push(...result.problems);
      if (problems.length > 0 || !result.ok) throw new ConfigError(problems);
      current = result.composition;
      for (const state of states) if (!state.loaded) scheduleRetry(state);
      if (pollSeconds > 0 && states.length > 0) {
        pollTimer = setInterval(() => void poll(), pollSeconds * 1000);
        pollTimer.unref();
      }
      return current;
    },
    current(): Composition {
      if (!current) throw new Error('The upstream registry has not started.');
      return current;
    },
    onUpdate(listener: (composition: Composition) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onIntrospectionRefused(listener: (upstream: string) => void): () => void {
      refusalListeners.add(listener);
      return () => refusalListeners.delete(listener);
    },
    isReady(): boolean {
      return states.every((state) => state.loaded !== undefined);
    },
    stop(): void {
      stopped = true;
      if (pollTimer) clearInterval(pollTimer);
      for (const state of states) if (state.timer) clearTimeout(state.timer);
    },
  };
}
