import * as client from 'openid-client';
import { ErrorCode } from '../../errors.js';
import type { OidcProviderConfig } from '../../config/oidc.js';
import type { Logger } from '../../logger.js';
import { OidcFailure } from './types.js';

/**
 * The configured providers and their discovered metadata. Discovery runs at start in the background and is
 * retried with growing delays: a provider that is down delays nobody's start, and its sign-ins answer
 * OIDC_PROVIDER_UNAVAILABLE until it answers. A sign-in that finds it unavailable also tries once more at
 * once (at most once per `minAttemptGapMs`), so a provider that is back is usable without waiting for a retry.
 */
export interface ProviderRegistry {
  readonly providers: readonly OidcProviderConfig[];
  find(name: string): OidcProviderConfig | undefined;
  /** The openid-client Configuration of a provider, or OIDC_PROVIDER_UNAVAILABLE. */
  configuration(name: string): Promise<client.Configuration>;
  start(): void;
  stop(): void;
}

export interface ProviderRegistryDeps {
  readonly providers: readonly OidcProviderConfig[];
  readonly logger: Logger;
  /** First retry delay; doubled up to maxRetryMs. */
  readonly firstRetryMs?: number;
  readonly maxRetryMs?: number;
  readonly minAttemptGapMs?: number;
  /** Discovery and every later request to the provider (token, userinfo, JWKS). */
  readonly timeoutSeconds?: number;
}

interface ProviderState {
  readonly config: OidcProviderConfig;
  configuration: client.Configuration | undefined;
  pending: Promise<void> | undefined;
  lastAttemptAt: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

export function createProviderRegistry(deps: ProviderRegistryDeps): ProviderRegistry {
  const { logger } = deps;
  const firstRetryMs = deps.firstRetryMs ?? 1000;
  const maxRetryMs = deps.maxRetryMs ?? 60_000;
  const minAttemptGapMs = deps.minAttemptGapMs ?? 1000;
  const timeoutSeconds = deps.timeoutSeconds ?? 5;
  const states = new Map<string, ProviderState>(
    deps.providers.map((config) => [config.name, { config, configuration: undefined, pending: undefined, lastAttemptAt: 0, failures: 0, timer: undefined }]),
  );
  let stopped = false;

  async function discover(state: ProviderState): Promise<void> {
    const { config } = state;
    state.lastAttemptAt = Date.now();
    try {
      const secret = config.clientSecret?.reveal();
      const configuration = await client.discovery(
        new URL(config.issuer),
        config.clientId,
        undefined,
        secret === undefined ? client.None() : client.ClientSecretPost(secret),
        // openid-client refuses http:// issuers; config/oidc.ts allows it only for a loopback issuer or outside
        // production (a local Keycloak, the test provider). Production providers are https.
        { execute: config.allowInsecureRequests ? [client.allowInsecureRequests] : [], timeout: timeoutSeconds },
      );
      configuration.timeout = timeoutSeconds;
      state.configuration = configuration;
      state.failures = 0;
      logger.info({ provider: config.name }, 'OIDC provider discovered');
    } catch (error) {
      state.failures++;
      const delay = Math.min(maxRetryMs, firstRetryMs * 2 ** (state.failures - 1));
      // The error's message only (a URL and a reason); nothing secret is part of discovery.
      logger.warn({ provider: config.name, reason: error instanceof Error ? error.message : 'unknown', retryInMs: delay }, 'OIDC provider discovery failed; retrying');
      if (!stopped) {
        clearTimeout(state.timer);
        state.timer = setTimeout(() => attempt(state), delay);
        state.timer.unref();
      }
    }
  }

  function attempt(state: ProviderState): Promise<void> {
    if (state.configuration || stopped) return Promise.resolve();
    state.pending ??= discover(state).finally(() => {
      state.pending = undefined;
    });
    return state.pending;
  }

  return {
    providers: deps.providers,
    find: (name: string): OidcProviderConfig | undefined => states.get(name)?.config,
    async configuration(name: string): Promise<client.Configuration> {
      const state = states.get(name);
      if (!state) throw new OidcFailure(ErrorCode.NOT_FOUND, 'unknown provider');
      if (state.configuration) return state.configuration;
      if (state.pending || Date.now() - state.lastAttemptAt >= minAttemptGapMs) {
        clearTimeout(state.timer);
        await attempt(state);
      }
      if (state.configuration) return state.configuration;
      throw new OidcFailure(ErrorCode.OIDC_PROVIDER_UNAVAILABLE, 'discovery has not succeeded');
    },
    start(): void {
      for (const state of states.values()) void attempt(state);
    },
    stop(): void {
      stopped = true;
      for (const state of states.values()) clearTimeout(state.timer);
    },
  };
}
