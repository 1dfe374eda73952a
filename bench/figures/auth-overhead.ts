import { QUERIES } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import { checkRun, isCleanData, runLoad, sampleBodies, type LoadRun, type LoadSpec } from '../load.js';
import { addDeltas, commandDelta, scrapeMetrics, type CommandDelta } from '../metrics.js';
import type { BenchOptions } from '../options.js';
import { treeCpuUs } from '../proc.js';
import type { Problems } from '../problems.js';
import { mean } from '../stats.js';

/** Figures 1 and 2 for one gateway: authenticated vs anonymous on the same server, and its database commands. */
export interface OverheadResult {
  readonly label: string;
  readonly runs: ReadonlyArray<{ readonly kind: 'anonymous' | 'authenticated'; readonly run: LoadRun }>;
  readonly anonymousRps: number;
  readonly authenticatedRps: number;
  /** authenticatedRps / anonymousRps. */
  readonly ratio: number;
  /** Server time per request implied by the throughput, in µs: 1e6 / rps. */
  readonly anonymousCostUs: number;
  /** 1e6 / authenticatedRps − 1e6 / anonymousRps: what authentication adds to each request, in µs. */
  readonly addedCostUs: number;
  readonly anonymousP99Ms: number;
  readonly authenticatedP99Ms: number;
  /** Difference of autocannon's p99s (whole milliseconds, so ±1 ms of resolution). */
  readonly p99DiffMs: number;
  /** Commands during the authenticated runs only. */
  readonly authenticatedCommands: CommandDelta;
  readonly authenticatedResponses: number;
  /** Commands caused by requests, per authenticated request (the goal: zero). */
  readonly commandsPerRequest: number;
  /** Over the whole window of the four runs: background work of the gateway. */
  readonly window: CommandDelta;
  readonly pollingPerSecond: number;
  readonly sweeperDeletesPerSecond: number;
  /** Verified-token cache lookups during the authenticated runs. */
  readonly cache: { readonly hits: number; readonly misses: number };
  /**
   * The gateway's own CPU per request (user + system, /proc; NaN elsewhere), by kind. Throughput on a shared
   * machine also moves with the load generator, which pays more for a request with a cookie: this is what
   * signing in costs the server itself.
   */
  readonly cpuUs: { readonly anonymous: number; readonly authenticated: number; readonly added: number };
}

export const QUERY_CONNECTIONS = 10;

/** What an authenticated answer looks like: the session id, no error. */
export function isSessionAnswer(status: number, body: string): boolean {
  return isCleanData(status, body) && body.includes('"currentSession":{"id":"');
}

export async function measureOverhead(input: {
  gateway: GatewayProcess;
  label: string;
  cookie: string;
  /** Whether this gateway runs with the verified-token cache; checked against its hit counter. */
  expectCache: boolean;
  options: BenchOptions;
  problems: Problems;
}): Promise<OverheadResult> {
  const { gateway, label, options, problems } = input;
  const specs: Record<'anonymous' | 'authenticated', LoadSpec> = {
    anonymous: { name: `${label}: anonymous`, origin: gateway.origin, connections: QUERY_CONNECTIONS, seconds: options.durationSeconds, body: QUERIES.anonymous, accept: isCleanData },
    authenticated: {
      name: `${label}: authenticated`,
      origin: gateway.origin,
      connections: QUERY_CONNECTIONS,
      seconds: options.durationSeconds,
      body: QUERIES.authenticated,
      headers: { cookie: input.cookie },
      accept: isSessionAnswer,
    },
  };
  await sampleBodies(specs.anonymous);
  await sampleBodies(specs.authenticated);
  for (const spec of Object.values(specs)) checkRun(problems, await runLoad({ ...spec, name: `${spec.name} (warm-up)`, seconds: options.warmupSeconds }));

  // A-B-B-A: anonymous, authenticated, authenticated, anonymous. The machine is shared and drifts (other
  // tenants, the database's background work); drift that is roughly linear over the four runs then weighs the
  // same on both sides, since each side's two runs are centred on the same moment. A-B-A-B would favour B.
  const order = ['anonymous', 'authenticated', 'authenticated', 'anonymous'] as const;
  const runs: Array<{ kind: 'anonymous' | 'authenticated'; run: LoadRun }> = [];
  const authDeltas: CommandDelta[] = [];
  let hits = 0;
  let misses = 0;
  const cpu = { anonymous: 0, authenticated: 0 };
  const first = await scrapeMetrics(gateway.origin);
  let before = first;
  for (const kind of order) {
    const cpuBefore = treeCpuUs(gateway.pid);
    const run = await runLoad(specs[kind]);
    cpu[kind] += treeCpuUs(gateway.pid) - cpuBefore;
    const after = await scrapeMetrics(gateway.origin);
    checkRun(problems, run);
    runs.push({ kind, run });
    if (kind === 'authenticated') {
      authDeltas.push(commandDelta(before, after));
      hits += after.cacheHits - before.cacheHits;
      misses += after.cacheMisses - before.cacheMisses;
    }
    before = after;
  }
  const window = commandDelta(first, before);
  const authenticatedResponses = runs.filter((entry) => entry.kind === 'authenticated').reduce((sum, entry) => sum + entry.run.responses, 0);
  // The before/after comparison means something only if the cache really was on in one and off in the other.
  if (input.expectCache ? hits < authenticatedResponses * 0.99 : hits > 0) {
    problems.report(label, `token cache hits ${hits} for ${authenticatedResponses} authenticated responses: the cache is not ${input.expectCache ? 'on' : 'off'}`);
  }

  const of = (kind: 'anonymous' | 'authenticated'): LoadRun[] => runs.filter((entry) => entry.kind === kind).map((entry) => entry.run);
  const anonymousRps = mean(of('anonymous').map((run) => run.rps));
  const authenticatedRps = mean(of('authenticated').map((run) => run.rps));
  const anonymousP99Ms = mean(of('anonymous').map((run) => run.latencyMs.p99));
  const authenticatedP99Ms = mean(of('authenticated').map((run) => run.latencyMs.p99));
  const authenticatedCommands = addDeltas(authDeltas);
  return {
    label,
    runs,
    anonymousRps,
    authenticatedRps,
    ratio: authenticatedRps / anonymousRps,
    anonymousCostUs: 1e6 / anonymousRps,
    addedCostUs: 1e6 / authenticatedRps - 1e6 / anonymousRps,
    anonymousP99Ms,
    authenticatedP99Ms,
    p99DiffMs: authenticatedP99Ms - anonymousP99Ms,
    authenticatedCommands,
    authenticatedResponses,
    commandsPerRequest: authenticatedCommands.requests / authenticatedResponses,
    window,
    pollingPerSecond: window.polling / window.seconds,
    sweeperDeletesPerSecond: window.sweeper / window.seconds,
    cache: { hits, misses },
    cpuUs: cpuPerRequest(cpu, of('anonymous'), of('authenticated')),
  };
}

function cpuPerRequest(
  cpu: { readonly anonymous: number; readonly authenticated: number },
  anonymous: readonly LoadRun[],
  authenticated: readonly LoadRun[],
): OverheadResult['cpuUs'] {
  const responses = (runs: readonly LoadRun[]): number => runs.reduce((sum, run) => sum + run.responses, 0);
  const perAnonymous = cpu.anonymous / responses(anonymous);
  const perAuthenticated = cpu.authenticated / responses(authenticated);
  return { anonymous: perAnonymous, authenticated: perAuthenticated, added: perAuthenticated - perAnonymous };
}
