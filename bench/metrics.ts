/** One scrape of GET /metrics, reduced to what the bench reads. */
export interface MetricsSnapshot {
  /** Monotonic milliseconds (performance.now) when the scrape answered. */
  readonly at: number;
  /** portcullis_db_commands_total by `${command} ${collection}`. */
  readonly commands: ReadonlyMap<string, number>;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly revocationEntries: number;
  readonly initialLoadSeconds: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
}

export async function scrapeMetrics(origin: string): Promise<MetricsSnapshot> {
  const response = await fetch(`${origin}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${origin}/metrics answered ${response.status}: is METRICS_ENABLED set?`);
  const text = await response.text();
  const at = performance.now();
  const commands = new Map<string, number>();
  const single = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name = '', labelText = '', valueText = ''] = match;
    const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map(([, key = '', value = '']) => [key, value]));
    const value = Number(valueText);
    if (name === 'portcullis_db_commands_total') commands.set(`${labels['command'] ?? ''} ${labels['collection'] ?? ''}`, value);
    else if (name === 'portcullis_access_token_cache') single.set(`cache_${labels['stat'] ?? ''}`, value);
    else single.set(name, value);
  }
  return {
    at,
    commands,
    rssBytes: single.get('process_resident_memory_bytes') ?? Number.NaN,
    heapUsedBytes: single.get('nodejs_heap_size_used_bytes') ?? Number.NaN,
    revocationEntries: single.get('portcullis_revocation_view_entries') ?? Number.NaN,
    initialLoadSeconds: single.get('portcullis_revocation_view_initial_load_seconds') ?? Number.NaN,
    cacheHits: single.get('cache_hits') ?? Number.NaN,
    cacheMisses: single.get('cache_misses') ?? Number.NaN,
  };
}

/**
 * Database commands between two scrapes, split by who sent them. The revocation view polls with `find` on
 * 'revocation_feed' and loads everything with `find` on 'revocations' (VIEW_READS); the expiry sweeper (servers
 * without TTL indexes) sends `delete`. Everything else was caused by requests — as long as the window holds no
 * request that revokes or deletes (logout, revoke), which the bench arranges.
 */
/** The revocation view's reads, by `${command} ${collection}`: they run on a timer, whatever the requests do. */
export const VIEW_READS: ReadonlySet<string> = new Set(['find revocation_feed', 'find revocations']);

export interface CommandDelta {
  readonly seconds: number;
  readonly polling: number;
  readonly sweeper: number;
  readonly requests: number;
  /** Every non-zero `${command} ${collection}` count, for results.json. */
  readonly byCommand: Record<string, number>;
}

export function commandDelta(before: MetricsSnapshot, after: MetricsSnapshot): CommandDelta {
  let polling = 0;
  let sweeper = 0;
  let requests = 0;
  const byCommand: Record<string, number> = {};
  for (const [key, count] of after.commands) {
    const delta = count - (before.commands.get(key) ?? 0);
    if (delta === 0) continue;
    byCommand[key] = delta;
    const [command] = key.split(' ');
    if (VIEW_READS.has(key)) polling += delta;
    else if (command === 'delete') sweeper += delta;
    else requests += delta;
  }
  return { seconds: (after.at - before.at) / 1000, polling, sweeper, requests, byCommand };
}

export function addDeltas(deltas: readonly CommandDelta[]): CommandDelta {
  const byCommand: Record<string, number> = {};
  for (const delta of deltas) for (const [key, count] of Object.entries(delta.byCommand)) byCommand[key] = (byCommand[key] ?? 0) + count;
  const sum = (pick: (delta: CommandDelta) => number): number => deltas.reduce((total, delta) => total + pick(delta), 0);
  return { seconds: sum((d) => d.seconds), polling: sum((d) => d.polling), sweeper: sum((d) => d.sweeper), requests: sum((d) => d.requests), byCommand };
}
