import type { BenchDatabase } from '../database.js';
import { startGateway, type GatewayProcess, type GatewaySecrets } from '../gateway.js';
import { scrapeMetrics, type MetricsSnapshot } from '../metrics.js';
import type { Problems } from '../problems.js';
import { sleep } from '../stats.js';

/** Figure 6: resident memory with many live revocations in the in-memory view, and the time to load them. */
export interface MemoryResult {
  readonly seeded: number;
  readonly seedSeconds: number;
  readonly empty: GatewayMemory;
  readonly loaded: GatewayMemory;
  /** loaded.rssBytes / empty.rssBytes. */
  readonly rssRatio: number;
  /** (loaded − empty) RSS per revocation. */
  readonly bytesPerEntry: number;
}

export interface GatewayMemory {
  readonly startMs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly entries: number;
  readonly initialLoadSeconds: number;
}

/** Time after start before memory is read, so both gateways are compared in the same settled state. */
const SETTLE_MS = 2_000;
const READINGS = 3;

export async function measureMemory(input: {
  database: BenchDatabase;
  secrets: GatewaySecrets;
  count: number;
  launch: (options: Parameters<typeof startGateway>[0]) => Promise<GatewayProcess>;
  problems: Problems;
}): Promise<MemoryResult> {
  const { database, count, problems } = input;
  // The reference first, on an empty database of its own, so nothing else runs while either is measured.
  const empty = await measureGateway(input, 'memory-empty', database.uriFor('memory_empty'));

  const seedStarted = performance.now();
  await database.seedRevocations('memory_loaded', count);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const loaded = await measureGateway(input, 'memory-loaded', database.uriFor('memory_loaded'));
  if (loaded.entries !== count) problems.report('memory', `the view holds ${loaded.entries} entries, ${count} were seeded`);

  return {
    seeded: count,
    seedSeconds,
    empty,
    loaded,
    rssRatio: loaded.rssBytes / empty.rssBytes,
    bytesPerEntry: (loaded.rssBytes - empty.rssBytes) / count,
  };
}

async function measureGateway(
  input: { secrets: GatewaySecrets; launch: (options: Parameters<typeof startGateway>[0]) => Promise<GatewayProcess> },
  name: string,
  mongodbUri: string,
): Promise<GatewayMemory> {
  const gateway = await input.launch({ name, mongodbUri, secrets: input.secrets });
  try {
    await sleep(SETTLE_MS);
    // The median of a few readings: RSS moves by a few MB as the heap grows and shrinks between collections.
    const readings: MetricsSnapshot[] = [];
    for (let i = 0; i < READINGS; i++) {
      readings.push(await scrapeMetrics(gateway.origin));
      await sleep(500);
    }
    const median = [...readings].sort((x, y) => x.rssBytes - y.rssBytes)[Math.floor(READINGS / 2)] as MetricsSnapshot;
    return {
      startMs: gateway.startMs,
      rssBytes: median.rssBytes,
      heapUsedBytes: median.heapUsedBytes,
      entries: median.revocationEntries,
      initialLoadSeconds: median.initialLoadSeconds,
    };
  } finally {
    await gateway.stop();
  }
}
