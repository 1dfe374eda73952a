import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { loginForAccessCookie, signUp } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import { checkRun, isCleanData, runLoad, sampleBodies, type LoadRun, type LoadSpec } from '../load.js';
import type { BenchOptions } from '../options.js';
import { ensureHiveGateway, startHiveGateway, type HiveMode, type PeerProcess } from '../peers.js';
import type { Problems } from '../problems.js';
import { treeCpuUs } from '../proc.js';
import type { UpstreamProcess } from '../upstream.js';
import { waitUntilReady } from './gateway.js';

/**
 * The peers figure: Portcullis (1 and 2 workers) against Hive Gateway 2.15 in proxy mode (de-duplication on,
 * off, and with its JWT plugin reading a cookie) and the upstream direct, in one run, same upstream, same query,
 * 32 connections. Portcullis signed in uses 40 sessions in turn, Hive's JWT 40 tokens in turn. A second query set
 * makes every request differ (a variable that changes nothing in the answer), so no de-duplication can help.
 * CPU per request is each process's (its workers' included) over the run, from /proc.
 */
export const PEERS_QUERY = '{ products(first: 10) { id name price reviews { id rating } } }';
const VARYING_QUERY = 'query Products($first: Int!) { products(first: $first) { id name price reviews { id rating } } }';
export const PEERS_CONNECTIONS = 32;
const SESSIONS = 40;
/** Distinct bodies per connection for the "every request differs" runs (10 products whatever `first` ≥ 10). */
const VARYING_BODIES = 2000;

export interface PeerRow {
  readonly name: string;
  readonly rps: number;
  readonly p99Ms: number;
  /** CPU per request of the process measured (workers included), and of the upstream behind it. */
  readonly cpuUs: number;
  readonly upstreamCpuUs: number;
  readonly run: LoadRun;
}

export interface PeersFigure {
  readonly query: string;
  readonly connections: number;
  readonly rows: readonly PeerRow[];
  /** Why the Hive Gateway rows are missing, when they are. */
  readonly hiveSkipped: string | undefined;
  readonly goals: ReadonlyArray<{ readonly name: string; readonly value: number; readonly goal: string; readonly met: boolean | undefined }>;
}

export async function measurePeers(input: {
  upstream: UpstreamProcess;
  /** Started with UPSTREAMS pointing at `upstream`; one with WORKERS=2. */
  launchPortcullis: (workers: number) => Promise<GatewayProcess>;
  options: BenchOptions;
  problems: Problems;
  log: (message: string) => void;
}): Promise<PeersFigure> {
  const { upstream, options, problems, log } = input;
  const body = JSON.stringify({ query: PEERS_QUERY });
  const varying = Array.from({ length: VARYING_BODIES }, (_unused, i) => ({ body: JSON.stringify({ query: VARYING_QUERY, variables: { first: 10 + i } }) }));
  const accept = (status: number, text: string): boolean => isCleanData(status, text) && (text.match(/"reviews":\[\{/g)?.length ?? 0) === 10;
  const rows: PeerRow[] = [];

  const measure = async (name: string, origin: string, pid: number, extra: Partial<LoadSpec> = {}): Promise<PeerRow> => {
    const spec: LoadSpec = { name, origin, connections: PEERS_CONNECTIONS, seconds: options.durationSeconds, body, accept, ...extra };
    const sample = await sampleBodies({ ...spec, headers: { ...spec.headers, ...spec.inTurn?.[0]?.headers }, body: spec.inTurn?.[0]?.body ?? body });
    if (!accept(200, sample)) problems.report('peers', `${name}: unexpected answer ${sample.slice(0, 200)}`);
    checkRun(problems, await runLoad({ ...spec, name: `${name} (warm-up)`, seconds: options.warmupSeconds }));
    const before = { own: treeCpuUs(pid), upstream: treeCpuUs(upstream.pid) };
    const run = await runLoad(spec);
    const after = { own: treeCpuUs(pid), upstream: treeCpuUs(upstream.pid) };
    checkRun(problems, run);
    const row = { name, rps: run.rps, p99Ms: run.latencyMs.p99, cpuUs: (after.own - before.own) / run.responses, upstreamCpuUs: (after.upstream - before.upstream) / run.responses, run };
    log(`  ${name}: ${Math.round(row.rps)} req/s, ${row.cpuUs.toFixed(0)} µs CPU/request (upstream ${row.upstreamCpuUs.toFixed(0)} µs)`);
    rows.push(row);
    return row;
  };

  await measure('upstream direct', upstream.origin, upstream.pid);
  await measure('upstream direct, every request differs', upstream.origin, upstream.pid, { inTurn: varying });

  for (const workers of [1, 2]) {
    const gateway = await input.launchPortcullis(workers);
    await waitUntilReady(gateway.origin);
    const user = { email: `bench-peers-${workers}@example.com`, password: 'bench-peers-password-1' };
    await signUp(gateway.origin, user).catch(() => undefined);
    const cookies: Array<{ headers: Record<string, string> }> = [];
    for (let i = 0; i < SESSIONS; i++) cookies.push({ headers: { cookie: await loginForAccessCookie(gateway.origin, user) } });
    const label = `Portcullis, ${workers} worker${workers === 1 ? '' : 's'}`;
    await measure(`${label}, guest`, gateway.origin, gateway.pid);
    await measure(`${label}, signed in (${SESSIONS} sessions in turn)`, gateway.origin, gateway.pid, { inTurn: cookies });
    await measure(`${label}, guest, every request differs`, gateway.origin, gateway.pid, { inTurn: varying });
    // What a signed-in request costs when no two requests in flight can share an upstream call.
    const varyingSignedIn = varying.map((item, i) => ({ ...item, headers: (cookies[i % SESSIONS] as { headers: Record<string, string> }).headers }));
    await measure(`${label}, signed in, every request differs`, gateway.origin, gateway.pid, { inTurn: varyingSignedIn });
    if (workers === 1) {
      await measure(`${label}, { __typename } answered itself (the floor)`, gateway.origin, gateway.pid, { body: '{"query":"{ __typename }"}', accept: isCleanData });
    }
    await gateway.stop();
  }

  let hiveSkipped: string | undefined;
  if (!(await ensureHiveGateway(log))) {
    hiveSkipped = 'bench/peers could not be installed (npm ci --prefix bench/peers)';
  } else {
    const secret = randomBytes(32).toString('base64url');
    const key = new TextEncoder().encode(secret);
    const tokens: Array<{ headers: Record<string, string> }> = [];
    for (let i = 0; i < SESSIONS; i++) {
      const token = await new SignJWT({ roles: ['USER'] }).setProtectedHeader({ alg: 'HS256' }).setSubject(`user-${i}`).setIssuedAt().setExpirationTime('1h').sign(key);
      tokens.push({ headers: { cookie: `access=${token}` } });
    }
    const modes: Array<[HiveMode, Partial<LoadSpec>]> = [
      ['dedupe on', {}],
      ['dedupe off', {}],
      ['jwt cookie', { inTurn: tokens }],
    ];
    for (const [mode, extra] of modes) {
      let peer: PeerProcess | undefined;
      try {
        peer = await startHiveGateway({ mode, upstreamUrl: upstream.url, jwtSecret: secret });
        await measure(`Hive Gateway 2.15, ${mode === 'jwt cookie' ? 'JWT plugin (cookie, 40 tokens in turn)' : `no auth, de-duplication ${mode.slice('dedupe '.length)}`}`, peer.origin, peer.pid, extra);
        if (mode === 'dedupe on') await measure('Hive Gateway 2.15, no auth, de-duplication on, every request differs', peer.origin, peer.pid, { inTurn: varying });
      } catch (error) {
        problems.report('peers', `Hive Gateway (${mode}): ${error instanceof Error ? error.message.slice(0, 400) : String(error)}`);
      } finally {
        await peer?.stop();
      }
    }
  }

  const find = (prefix: string): PeerRow | undefined => rows.find((row) => row.name.startsWith(prefix));
  const ratio = (a: PeerRow | undefined, b: PeerRow | undefined): number => (a && b ? a.rps / b.rps : Number.NaN);
  const signedIn = find('Portcullis, 1 worker, signed in (');
  const guest = find('Portcullis, 1 worker, guest');
  const floor = find('Portcullis, 1 worker, { __typename }');
  const judged = (value: number, met: (value: number) => boolean): boolean | undefined => (Number.isNaN(value) || options.smoke ? undefined : met(value));
  const goals = [
    { name: 'signed in / Hive Gateway no auth, de-duplication off', value: ratio(signedIn, find('Hive Gateway 2.15, no auth, de-duplication off')), goal: '≥ 1.5' },
    { name: 'guest / Hive Gateway with its defaults (de-duplication on)', value: ratio(guest, find('Hive Gateway 2.15, no auth, de-duplication on')), goal: '≥ 1.0' },
    { name: 'signed in / Hive Gateway with JWT', value: ratio(signedIn, find('Hive Gateway 2.15, JWT plugin')), goal: '≥ 3' },
    { name: 'gateway CPU per signed-in request (µs)', value: signedIn?.cpuUs ?? Number.NaN, goal: '≤ 250' },
    { name: 'the same, every request differs (µs)', value: find('Portcullis, 1 worker, signed in, every request differs')?.cpuUs ?? Number.NaN, goal: '≤ 250' },
    { name: 'gateway CPU per { __typename } (µs, the floor)', value: floor?.cpuUs ?? Number.NaN, goal: '≤ 150' },
  ];
  const thresholds = [(v: number) => v >= 1.5, (v: number) => v >= 1.0, (v: number) => v >= 3, (v: number) => v <= 250, (v: number) => v <= 250, (v: number) => v <= 150];
  return {
    query: PEERS_QUERY,
    connections: PEERS_CONNECTIONS,
    rows,
    hiveSkipped,
    goals: goals.map((goal, i) => ({ ...goal, met: judged(goal.value, thresholds[i] as (value: number) => boolean) })),
  };
}

export function renderPeers(figure: PeersFigure): string {
  const direct = figure.rows.find((row) => row.name === 'upstream direct');
  const lines = [
    `Peers: ${figure.query}, ${figure.connections} connections, same upstream, one run`,
    '',
    '| Process | Throughput | vs upstream direct | p99 | CPU / request (its own) | Upstream CPU / request |',
    '|---|---|---|---|---|---|',
    ...figure.rows.map(
      (row) =>
        `| ${row.name} | ${Math.round(row.rps).toLocaleString('en-US')} req/s | ${direct ? (row.rps / direct.rps).toFixed(2) : '—'} | ${row.p99Ms.toFixed(0)} ms | ${row.cpuUs.toFixed(0)} µs | ${row.name.startsWith('upstream') ? '—' : `${row.upstreamCpuUs.toFixed(0)} µs`} |`,
    ),
    '',
    '| Goal | Value | Goal | Met? |',
    '|---|---|---|---|',
    ...figure.goals.map((goal) => `| ${goal.name} | ${goal.value.toFixed(goal.value < 20 ? 2 : 0)} | ${goal.goal} | ${goal.met === undefined ? '—' : goal.met ? 'yes' : 'no'} |`),
  ];
  if (figure.hiveSkipped) lines.push('', `Hive Gateway rows skipped: ${figure.hiveSkipped}.`);
  return lines.join('\n');
}
