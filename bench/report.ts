import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { QUERY_CONNECTIONS, type OverheadResult } from './figures/auth-overhead.js';
import { GATEWAY_CONNECTIONS, type GatewayFigure } from './figures/gateway.js';
import type { LoginResult } from './figures/login.js';
import type { MemoryResult } from './figures/memory.js';
import type { CommandDelta } from './metrics.js';
import type { ReachResult } from './figures/reach.js';
import type { RefreshResult } from './figures/refresh.js';
import { reportSubscriptions, type SubscriptionsResult } from './figures/subscriptions.js';

export interface Figures {
  readonly cacheOn: OverheadResult;
  readonly cacheOff: OverheadResult;
  /** One idle-for-the-database gateway from its start to figure 5: its polling and sweeping only. */
  readonly background: CommandDelta;
  readonly login: LoginResult;
  readonly refresh: RefreshResult;
  readonly reach: ReachResult;
  readonly memory: MemoryResult;
  readonly gateway: GatewayFigure;
  /** Figure 8 (live subscriptions). */
  readonly subscriptions?: SubscriptionsResult;
}

export interface Row {
  readonly figure: string;
  readonly value: string;
  readonly reference: string;
  readonly target: string;
  /** 'yes' / 'no' for the issue's goals (default configuration); '—' for figures without one. */
  readonly met: string;
}

export interface Goal {
  readonly figure: string;
  readonly goal: string;
  readonly value: number;
  readonly met: boolean;
}

export interface Machine {
  readonly cpus: number;
  readonly model: string;
  readonly totalMemoryGiB: number;
  readonly os: string;
  readonly node: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    totalMemoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

/** Which code was measured: the commit, and whether src/ had uncommitted changes. */
export function describeSource(): { commit: string; srcModified: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const changes = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return { commit, srcModified: changes !== '' };
  } catch {
    return undefined;
  }
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mib = (bytes: number): string => `${dec(bytes / 2 ** 20, 1)} MiB`;
const yesNo = (met: boolean): string => (met ? 'yes' : 'no');

export function buildReport(f: Figures): { rows: Row[]; goals: Goal[] } {
  const goals: Goal[] = [
    { figure: '1. authenticated/anonymous throughput, cache on', goal: '≥ 0.97', value: f.cacheOn.ratio, met: f.cacheOn.ratio >= 0.97 },
    // autocannon's latencies are whole milliseconds, too coarse for 0.5 ms; the added cost derived from
    // throughput is exact to the microsecond for a saturated single-threaded server, so the goal is judged on it.
    { figure: '1. added cost per authenticated request, cache on (µs, from throughput)', goal: '< 500', value: f.cacheOn.addedCostUs, met: f.cacheOn.addedCostUs < 500 },
    { figure: '2. database commands per authenticated request', goal: '= 0', value: f.cacheOn.commandsPerRequest, met: f.cacheOn.commandsPerRequest === 0 },
    { figure: '3. login throughput / raw argon2id verify rate', goal: '≥ 0.90', value: f.login.ratio, met: f.login.ratio >= 0.9 },
    { figure: '3. query p99 during login storm / idle p99', goal: '< 2', value: f.login.p99Ratio, met: f.login.p99Ratio < 2 },
    // The goal is on sequential round trips, which a command counter cannot see: 4 commands here are 2 round
    // trips (the token read; then the insert beside the session and user reads). A test times them:
    // test/auth/refresh-round-trips.test.ts. This row reports the commands and judges nothing.
    { figure: '5. revocation reach p99 (ms)', goal: '≤ 1000', value: f.reach.p99Ms, met: f.reach.p99Ms <= 1000 },
    { figure: '7. gateway signed in / upstream direct, nested query throughput', goal: '≥ 0.90', value: f.gateway.signedInToDirect, met: f.gateway.signedInToDirect >= 0.9 },
    { figure: '7. gateway signed in / gateway guest, nested query throughput', goal: '≥ 0.97', value: f.gateway.signedInToGuest, met: f.gateway.signedInToGuest >= 0.97 },
  ];
  const met = (index: number): string => yesNo(goals[index]?.met ?? false);
  const seeded = int(f.memory.seeded);
  const rows: Row[] = [
    {
      figure: '1. Authenticated query, token cache on (default)',
      value: `${int(f.cacheOn.authenticatedRps)} req/s`,
      reference: `anonymous ${int(f.cacheOn.anonymousRps)} req/s`,
      target: `${dec(f.cacheOn.ratio, 3)} (goal ≥ 0.97)`,
      met: met(0),
    },
    {
      figure: '1. Authenticated query, cache off (before: ACCESS_TOKEN_CACHE_SIZE=0)',
      value: `${int(f.cacheOff.authenticatedRps)} req/s`,
      reference: `anonymous ${int(f.cacheOff.anonymousRps)} req/s`,
      target: dec(f.cacheOff.ratio, 3),
      met: '—',
    },
    {
      figure: '1. Added cost per authenticated request, cache on (goal judged on this)',
      value: `${dec(f.cacheOn.addedCostUs, 1)} µs`,
      reference: `anonymous ${dec(f.cacheOn.anonymousCostUs, 1)} µs/request`,
      target: 'goal < 500 µs',
      met: met(1),
    },
    {
      figure: '1. Added cost per authenticated request, cache off (before)',
      value: `${dec(f.cacheOff.addedCostUs, 1)} µs`,
      reference: `anonymous ${dec(f.cacheOff.anonymousCostUs, 1)} µs/request`,
      target: '—',
      met: '—',
    },
    ...[f.cacheOn, f.cacheOff].map(
      (o): Row => ({
        figure: `1. Gateway CPU per request, ${o.label} (user + system, /proc)`,
        value: `authenticated ${dec(o.cpuUs.authenticated, 1)} µs`,
        reference: `anonymous ${dec(o.cpuUs.anonymous, 1)} µs`,
        target: `signing in adds ${dec(o.cpuUs.added, 1)} µs (${dec(o.cpuUs.anonymous / o.cpuUs.authenticated, 3)})`,
        met: '—',
      }),
    ),
    ...[f.cacheOn, f.cacheOff].map(
      (o): Row => ({
        figure: `1. p99 latency at ${QUERY_CONNECTIONS} connections, ${o.label} (autocannon, whole ms)`,
        value: `${dec(o.authenticatedP99Ms, 1)} ms`,
        reference: `anonymous ${dec(o.anonymousP99Ms, 1)} ms`,
        target: `${o.p99DiffMs >= 0 ? '+' : ''}${dec(o.p99DiffMs, 1)} ms`,
        met: '—',
      }),
    ),
    {
      figure: '2. Database commands per authenticated request',
      value: `${dec(f.cacheOn.commandsPerRequest, 4)} (${int(f.cacheOn.authenticatedCommands.requests)} over ${int(f.cacheOn.authenticatedResponses)} requests)`,
      reference: `cache off: ${dec(f.cacheOff.commandsPerRequest, 4)}`,
      target: 'goal 0',
      met: met(2),
    },
    {
      figure: '2. Revocation view reads (finds by _id on revocation_feed, full loads), per gateway',
      value: `${dec(f.background.polling / f.background.seconds, 2)}/s`,
      reference: `over ${int(f.background.seconds)} s; a poll of three parallel finds per 250 ms + query: < 12/s`,
      target: '—',
      met: '—',
    },
    {
      figure: '2. Expiry sweeper deletes, per gateway',
      value: `${dec(f.background.sweeper / f.background.seconds, 3)}/s`,
      reference: `over ${int(f.background.seconds)} s; without TTL indexes, one per swept collection per 60 s`,
      target: '—',
      met: '—',
    },
    {
      figure: '3. Login throughput',
      value: `${dec(f.login.login.rps, 1)} logins/s`,
      reference: `raw argon2id verify ${dec(f.login.raw.rate, 1)}/s (${f.login.raw.parameters.split('$').pop() ?? ''}, ${f.login.concurrency} at once)`,
      target: `${dec(f.login.ratio, 3)} (goal ≥ 0.90)`,
      met: met(3),
    },
    {
      figure: '3. Database commands per login',
      value: dec(f.login.commandsPerLogin, 1),
      reference: 'user read, throttle counters, session and refresh-token writes',
      target: '—',
      met: '—',
    },
    {
      figure: '3. CPU per login (user + system, /proc)',
      value: `gateway ${msOrUnknown(f.login.cpu.gatewayMs)}, database ${msOrUnknown(f.login.cpu.databaseMs)}, load generator ${msOrUnknown(f.login.cpu.benchMs)}`,
      reference: `machine ${Number.isFinite(f.login.cpu.machineBusy) ? `${int(f.login.cpu.machineBusy * 100)} %` : 'not measured'} busy, ${f.login.cpu.cores} cores`,
      target: Number.isFinite(f.login.cpu.ceilingRatio) ? `at most ${dec(f.login.cpu.ceilingRatio, 3)} of raw with every core busy` : '—',
      met: '—',
    },
    {
      figure: '3. Authenticated query p99 during a login storm',
      value: `${dec(f.login.storm.p99Ms, 2)} ms`,
      reference: `idle p99 ${dec(f.login.idle.p99Ms, 2)} ms`,
      target: `${dec(f.login.p99Ratio, 2)}× (goal < 2×)`,
      met: met(4),
    },
    {
      figure: '4. Database commands per refresh rotation',
      value: dec(f.refresh.commandsPerRotation, 2),
      reference: Object.entries(f.refresh.perRotationByCommand)
        .map(([key, count]) => `${key} ${dec(count, 2)}`)
        .join(', '),
      target: 'goal ≤ 2 round trips: see note',
      met: '—',
    },
    {
      figure: '4. Refresh rotations per second',
      value: `${dec(f.refresh.rotationsPerSecond, 1)}/s`,
      reference: `${f.refresh.sessions} sessions, one chain per connection`,
      target: '—',
      met: '—',
    },
    {
      figure: '5. Revocation reach, logout on A → refused by B, p50',
      value: `${dec(f.reach.p50Ms, 0)} ms`,
      reference: 'B polls revocations every 250 ms',
      target: '—',
      met: '—',
    },
    {
      figure: `5. Revocation reach, p99 of ${f.reach.trialsMs.length} trials`,
      value: `${dec(f.reach.p99Ms, 0)} ms`,
      reference: `max ${dec(f.reach.maxMs, 0)} ms`,
      target: 'goal ≤ 1000 ms',
      met: met(5),
    },
    {
      figure: `6. RSS with ${seeded} live session revocations loaded`,
      value: mib(f.memory.loaded.rssBytes),
      reference: `empty database ${mib(f.memory.empty.rssBytes)}`,
      target: `${dec(f.memory.rssRatio, 2)}× (${int(f.memory.bytesPerEntry)} bytes/entry)`,
      met: '—',
    },
    {
      figure: `6. Initial load of ${seeded} revocations at start`,
      value: `${dec(f.memory.loaded.initialLoadSeconds, 2)} s`,
      reference: `empty database ${dec(f.memory.empty.initialLoadSeconds * 1000, 1)} ms`,
      target: '—',
      met: '—',
    },
    {
      figure: '7. Gateway: upstream called directly (10 products × reviews, @public)',
      value: `${int(f.gateway.directRps)} req/s`,
      reference: `p99 ${dec(f.gateway.directP99Ms, 1)} ms at ${GATEWAY_CONNECTIONS} connections`,
      target: '—',
      met: '—',
    },
    {
      figure: '7. Gateway: the same query through the gateway, guest',
      value: `${int(f.gateway.guestRps)} req/s`,
      reference: `p99 ${dec(f.gateway.guestP99Ms, 1)} ms; the gateway adds ${dec(f.gateway.gatewayAddedUs, 1)} µs/request`,
      target: dec(f.gateway.guestRps / f.gateway.directRps, 3),
      met: '—',
    },
    {
      figure: '7. Gateway: the same query through the gateway, signed in',
      value: `${int(f.gateway.signedInRps)} req/s`,
      reference: `direct ${int(f.gateway.directRps)} req/s`,
      target: `${dec(f.gateway.signedInToDirect, 3)} (goal ≥ 0.90)`,
      met: met(6),
    },
    {
      figure: '7. Gateway: signed in against guest',
      value: `${int(f.gateway.signedInRps)} req/s`,
      reference: `guest ${int(f.gateway.guestRps)} req/s; signing in adds ${dec(f.gateway.signedInAddedUs, 1)} µs/request, p99 ${dec(f.gateway.signedInP99Ms, 1)} ms`,
      target: `${dec(f.gateway.signedInToGuest, 3)} (goal ≥ 0.97)`,
      met: met(7),
    },
    {
      figure: '7. Gateway: CPU per request (user + system, /proc), signed in',
      value: `gateway ${int(f.gateway.cpuUsPerRequest['signed in'].gatewayUs)} µs`,
      reference: `upstream ${int(f.gateway.cpuUsPerRequest['signed in'].upstreamUs)} µs behind it; ${int(f.gateway.cpuUsPerRequest.direct.upstreamUs)} µs called directly; gateway as guest ${int(f.gateway.cpuUsPerRequest.guest.gatewayUs)} µs; gateway answering { __typename } itself ${int(f.gateway.ownTypenameCpuUs)} µs (${int(f.gateway.ownTypenameRps)} req/s)`,
      target: '—',
      met: '—',
    },
  ];
  if (f.subscriptions) {
    const live = reportSubscriptions(f.subscriptions);
    goals.push(...live.goals);
    rows.push(...live.rows);
  }
  return { rows, goals };
}

export function renderTable(rows: readonly Row[]): string {
  const header = '| Figure | Value | Reference (same run) | Ratio / goal | Met? |';
  const rule = '|---|---|---|---|---|';
  return [header, rule, ...rows.map((row) => `| ${row.figure} | ${row.value} | ${row.reference} | ${row.target} | ${row.met} |`)].join('\n');
}

function msOrUnknown(ms: number): string {
  return Number.isFinite(ms) ? `${dec(ms, 1)} ms` : 'not measured';
}
