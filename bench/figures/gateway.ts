import { JSON_HEADERS, loginForAccessCookie, signUp } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import { checkRun, isCleanData, runLoad, sampleBodies, type LoadRun, type LoadSpec } from '../load.js';
import type { BenchOptions } from '../options.js';
import type { Problems } from '../problems.js';
import { processCpuUs } from '../proc.js';
import { mean, sleep } from '../stats.js';
import type { UpstreamProcess } from '../upstream.js';

/**
 * Figure 7: the gateway in front of the example upstream (examples/upstream-service.ts), on a nested query: a
 * list of 10 products, each with its list of reviews, a `@public` field. (a) the upstream called directly,
 * (b) through the gateway as a guest, (c) through the gateway signed in (access cookie; the gateway signs an
 * identity token per session and the upstream verifies it).
 */
export interface GatewayFigure {
  readonly runs: ReadonlyArray<{ readonly kind: GatewayKind; readonly run: LoadRun; readonly cpu: RunCpu }>;
  readonly directRps: number;
  readonly guestRps: number;
  readonly signedInRps: number;
  /** signedIn / direct: goal ≥ 0.90. */
  readonly signedInToDirect: number;
  /** signedIn / guest: goal ≥ 0.97. */
  readonly signedInToGuest: number;
  readonly directP99Ms: number;
  readonly guestP99Ms: number;
  readonly signedInP99Ms: number;
  /** 1e6 / rps differences: what the gateway adds per request, and what signing in adds on top. */
  readonly gatewayAddedUs: number;
  readonly signedInAddedUs: number;
  /**
   * CPU time per request (user + system, from /proc; NaN elsewhere) of the gateway and of the upstream, by kind:
   * what each request costs whatever the machine's other load, unlike throughput on shared cores.
   */
  readonly cpuUsPerRequest: Readonly<Record<GatewayKind, RunCpu>>;
  /**
   * The floor: the gateway answering `{ __typename }` itself (no upstream call), same connections, two runs after
   * the six. What the nested query costs the gateway above it is the upstream call and the bigger answer.
   */
  readonly ownTypenameRps: number;
  readonly ownTypenameCpuUs: number;
}

export interface RunCpu {
  readonly gatewayUs: number;
  readonly upstreamUs: number;
}

export type GatewayKind = 'direct' | 'guest' | 'signed in';

export const NESTED_QUERY = '{ products { id name price reviews { id rating text } } }';
const BODY = JSON.stringify({ query: NESTED_QUERY });
const TYPENAME_BODY = JSON.stringify({ query: '{ __typename }' });
export const GATEWAY_CONNECTIONS = 10;

/** Ten products with their reviews, and no error: the same answer on all three paths. */
export function isNestedAnswer(status: number, body: string): boolean {
  return isCleanData(status, body) && body.startsWith('{"data":{"products":[{') && (body.match(/"reviews":\[\{/g)?.length ?? 0) === 10;
}

/** Waits for /readyz: the gateway answers 503 until every upstream's schema has loaded. */
export async function waitUntilReady(origin: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${origin}/readyz`).then((response) => response.status, () => 0);
    if (status === 200) return;
    if (Date.now() > until) throw new Error(`gateway ${origin} not ready within ${timeoutMs / 1000} s (last /readyz status ${status}): is UPSTREAMS supported?`);
    await sleep(100);
  }
}

export async function measureGateway(input: {
  upstream: UpstreamProcess;
  gateway: GatewayProcess;
  options: BenchOptions;
  problems: Problems;
}): Promise<GatewayFigure> {
  const { upstream, gateway, options, problems } = input;
  await waitUntilReady(gateway.origin);
  const user = { email: 'bench-gateway@example.com', password: 'bench-gateway-password-1' };
  await signUp(gateway.origin, user);
  const cookie = await loginForAccessCookie(gateway.origin, user);
  const base = { connections: GATEWAY_CONNECTIONS, seconds: options.durationSeconds, body: BODY, accept: isNestedAnswer };
  const specs: Record<GatewayKind, LoadSpec> = {
    direct: { ...base, name: 'gateway figure: upstream direct', origin: upstream.origin },
    guest: { ...base, name: 'gateway figure: through the gateway, guest', origin: gateway.origin },
    'signed in': { ...base, name: 'gateway figure: through the gateway, signed in', origin: gateway.origin, headers: { cookie } },
  };
  // The three paths must give the same answer, or the comparison means nothing.
  const samples = await Promise.all(Object.values(specs).map((spec) => sampleBodies(spec)));
  if (new Set(samples).size !== 1) problems.report('gateway figure', `the three paths answer differently: ${samples.map((sample) => sample.slice(0, 120)).join(' | ')}`);
  await assertSignedInReachesUpstream(gateway.origin, cookie);
  for (const spec of Object.values(specs)) checkRun(problems, await runLoad({ ...spec, name: `${spec.name} (warm-up)`, seconds: options.warmupSeconds }));

  // A-B-C-C-B-A: linear drift over the six runs weighs the same on all three, each pair centred on one moment.
  const order: GatewayKind[] = ['direct', 'guest', 'signed in', 'signed in', 'guest', 'direct'];
  const runs: Array<{ kind: GatewayKind; run: LoadRun; cpu: RunCpu }> = [];
  const cpuNow = (): { gateway: number; upstream: number } => ({ gateway: processCpuUs(gateway.pid) ?? Number.NaN, upstream: processCpuUs(upstream.pid) ?? Number.NaN });
  for (const kind of order) {
    const before = cpuNow();
    const run = await runLoad(specs[kind]);
    const after = cpuNow();
    checkRun(problems, run);
    const cpu = { gatewayUs: (after.gateway - before.gateway) / run.responses, upstreamUs: (after.upstream - before.upstream) / run.responses };
    runs.push({ kind, run, cpu });
  }
  const of = (kind: GatewayKind): LoadRun[] => runs.filter((entry) => entry.kind === kind).map((entry) => entry.run);
  const rps = (kind: GatewayKind): number => mean(of(kind).map((run) => run.rps));
  const p99 = (kind: GatewayKind): number => mean(of(kind).map((run) => run.latencyMs.p99));
  const typename = { ...base, name: 'gateway figure: { __typename } answered by the gateway itself', origin: gateway.origin, body: TYPENAME_BODY, accept: isCleanData };
  const own: Array<{ rps: number; cpuUs: number }> = [];
  for (let i = 0; i < 2; i++) {
    const before = processCpuUs(gateway.pid) ?? Number.NaN;
    const run = await runLoad(typename);
    checkRun(problems, run);
    own.push({ rps: run.rps, cpuUs: ((processCpuUs(gateway.pid) ?? Number.NaN) - before) / run.responses });
  }
  const cpuOf = (kind: GatewayKind): RunCpu => {
    const list = runs.filter((entry) => entry.kind === kind).map((entry) => entry.cpu);
    return { gatewayUs: mean(list.map((cpu) => cpu.gatewayUs)), upstreamUs: mean(list.map((cpu) => cpu.upstreamUs)) };
  };
  const directRps = rps('direct');
  const guestRps = rps('guest');
  const signedInRps = rps('signed in');
  return {
    runs,
    directRps,
    guestRps,
    signedInRps,
    signedInToDirect: signedInRps / directRps,
    signedInToGuest: signedInRps / guestRps,
    directP99Ms: p99('direct'),
    guestP99Ms: p99('guest'),
    signedInP99Ms: p99('signed in'),
    gatewayAddedUs: 1e6 / guestRps - 1e6 / directRps,
    signedInAddedUs: 1e6 / signedInRps - 1e6 / guestRps,
    cpuUsPerRequest: { direct: cpuOf('direct'), guest: cpuOf('guest'), 'signed in': cpuOf('signed in') },
    ownTypenameRps: mean(own.map((entry) => entry.rps)),
    ownTypenameCpuUs: mean(own.map((entry) => entry.cpuUs)),
  };
}

/**
 * The signed-in path must really be signed in: `orders` is @authorized, so it answers data only when the gateway
 * took the cookie and the upstream accepted the identity token it was sent.
 */
async function assertSignedInReachesUpstream(origin: string, cookie: string): Promise<void> {
  const response = await fetch(`${origin}/graphql`, { method: 'POST', headers: { ...JSON_HEADERS, cookie }, body: JSON.stringify({ query: '{ orders { id userId } }' }) });
  const text = await response.text();
  if (!isCleanData(response.status, text) || !text.includes('"userId":"')) throw new Error(`gateway figure: a signed-in request did not reach the upstream as that user: HTTP ${response.status} ${text.slice(0, 300)}`);
}
