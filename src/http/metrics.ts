import cluster from 'node:cluster';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RevocationView } from '../auth/revocation-view.js';
import type { Database } from '../stores/mongo.js';
import type { AccessTokens } from '../tokens/access-token.js';

export interface MetricSources {
  readonly database: Database;
  readonly view: RevocationView;
  readonly accessTokens: AccessTokens;
  /** With key pairs: stored signing-key records refused because their MAC does not check. */
  readonly signingKeys?: { refusedCount(): number };
  /** Gateway mode: the upstream registry's events (upstreams/ knows nothing of metrics or HTTP). */
  readonly upstreams?: { onIntrospectionRefused(listener: (upstream: string) => void): () => void };
}

/**
 * Prometheus metrics for GET /metrics (when METRICS_ENABLED). The database command counter is what shows that
 * an authenticated request costs no round trip; the bench reads it too.
 */
export function createMetrics(sources: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const commands = new Counter({
    name: 'portcullis_db_commands_total',
    help: 'MongoDB commands sent, by command and collection.',
    labelNames: ['command', 'collection'],
    registers: [registry],
  });
  sources.database.connection.getClient().on('commandStarted', (event) => {
    const target = (event.command as Record<string, unknown>)[event.commandName];
    commands.inc({ command: event.commandName, collection: typeof target === 'string' ? target : '' });
  });

  // With WORKERS > 1 a scrape reaches one worker of several, each with its own counters: this says which.
  new Gauge({
    name: 'portcullis_process_info',
    help: 'Always 1; labels name the process that answered this scrape (worker 0: a single process).',
    labelNames: ['pid', 'worker'],
    registers: [registry],
  }).set({ pid: String(process.pid), worker: String(cluster.worker?.id ?? 0) }, 1);
  new Gauge({
    name: 'portcullis_revocation_view_entries',
    help: 'Unexpired revocations held in memory.',
    registers: [registry],
    collect() {
      this.set(sources.view.size());
    },
  });
  new Gauge({
    name: 'portcullis_revocation_view_initial_load_seconds',
    help: 'Time taken to load the revocation view at start.',
    registers: [registry],
    collect() {
      this.set(sources.view.initialLoadMs() / 1000);
    },
  });
  new Gauge({
    name: 'portcullis_revocation_view_fresh',
    help: '1 while the revocation view is within REVOCATION_MAX_LAG_SECONDS of the database.',
    registers: [registry],
    collect() {
      this.set(sources.view.isFresh() ? 1 : 0);
    },
  });
  const signingKeys = sources.signingKeys;
  if (signingKeys) {
    new Gauge({
      name: 'portcullis_signing_keys_refused',
      help: 'Stored signing-key records ignored because their MAC does not check (forged, altered, or written before MACs).',
      registers: [registry],
      collect() {
        this.set(signingKeys.refusedCount());
      },
    });
  }
  const upstreams = sources.upstreams;
  if (upstreams) {
    const refused = new Counter({
      name: 'portcullis_upstream_introspection_refused_total',
      help: 'Schema polls that found no _service SDL where the loaded schema has directives: introspection was refused and the previous schema, rules included, kept.',
      labelNames: ['upstream'],
      registers: [registry],
    });
    upstreams.onIntrospectionRefused((upstream) => refused.inc({ upstream }));
  }
  const cache = new Gauge({
    name: 'portcullis_access_token_cache',
    help: 'Verified-token cache: lookups that hit, that missed, and entries held.',
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      const stats = sources.accessTokens.cacheStats();
      cache.set({ stat: 'hits' }, stats.hits);
      cache.set({ stat: 'misses' }, stats.misses);
      cache.set({ stat: 'size' }, stats.size);
    },
  });
  return registry;
}
