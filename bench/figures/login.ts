import { availableParallelism } from 'node:os';
import { verify } from '@node-rs/argon2';
import { defaultHashConcurrency } from '../../src/auth/password.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { loginBody, QUERIES, type Credentials } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import { checkRun, isCleanData, runLoad, sampleBodies, type LoadRun, type LoadSpec } from '../load.js';
import { commandDelta, scrapeMetrics, type CommandDelta } from '../metrics.js';
import type { BenchOptions } from '../options.js';
import { probeLatency, type ProbeResult } from '../probe.js';
import { machineCpuUs, processCpuUs, treeCpuUs } from '../proc.js';
import type { Problems } from '../problems.js';
import { percentile, sleep } from '../stats.js';
import { isSessionAnswer } from './auth-overhead.js';

/** Figure 3: login throughput against raw argon2id, and query latency during a login storm. */
export interface LoginResult {
  /** Verifies in flight at once: as many as the gateway runs (its PASSWORD_HASH_CONCURRENCY default, within libuv's pool). */
  readonly concurrency: number;
  readonly raw: { readonly parameters: string; readonly verifies: number; readonly seconds: number; readonly rate: number };
  readonly login: LoadRun;
  /** login.rps / raw.rate. */
  readonly ratio: number;
  /** Database commands during the login run: each login also reads the user, counts throttle attempts, writes a session. */
  readonly commands: CommandDelta;
  readonly commandsPerLogin: number;
  readonly idle: LatencySummary;
  readonly storm: LatencySummary;
  readonly stormLogin: LoadRun;
  /** storm.p99Ms / idle.p99Ms. */
  readonly p99Ratio: number;
  /** Where the login run's CPU went: what bounds the ratio on a machine the database shares. */
  readonly cpu: LoginCpu;
}

/**
 * CPU per login during the login run (user + system, from /proc; NaN where it cannot be read), and the ratio
 * that CPU allows at most: if every core were busy with nothing but this work, logins/s would be
 * cores / (gateway + database + bench) per login. The measured ratio can only be lower; a goal above the
 * ceiling needs less work per login or cores the database and the load do not share.
 */
export interface LoginCpu {
  readonly gatewayMs: number;
  readonly databaseMs: number;
  /** This process: the load generator (autocannon). */
  readonly benchMs: number;
  /** Share of all cores busy during the run (anything on the machine, these processes included). */
  readonly machineBusy: number;
  readonly cores: number;
  /** cores / (gatewayMs + databaseMs + benchMs) per second, over the raw verify rate. */
  readonly ceilingRatio: number;
}

export interface LatencySummary {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Enough logins in flight to keep every pool thread busy while others wait on the database. */
export const LOGIN_CONNECTIONS = 16;
/** The latency probe's pace: light enough not to be load itself. */
const PROBE_PERIOD_MS = 5;

export async function measureLogin(input: {
  gateway: GatewayProcess;
  /** At least LOGIN_CONNECTIONS accounts: one per connection. */
  users: readonly Credentials[];
  /** The hash the gateway stored for users[0]: same parameters as every login verifies. */
  storedHash: string;
  /** The database server's process, when it runs here (BenchDatabase.pid): its CPU per login is reported. */
  databasePid: number | undefined;
  cookie: string;
  options: BenchOptions;
  problems: Problems;
}): Promise<LoginResult> {
  const { gateway, users, options, problems } = input;
  const first = users[0];
  if (!first || users.length < LOGIN_CONNECTIONS) throw new Error(`login: needs ${LOGIN_CONNECTIONS} accounts, got ${users.length}`);
  // The gateway hashes at most PASSWORD_HASH_CONCURRENCY at once (default: cores − 1, leaving a core for the
  // event loop), within libuv's pool (4 unless UV_THREADPOOL_SIZE says otherwise). The gateway inherits this
  // process's environment, so the same numbers hold here.
  const concurrency = Math.min(Number(process.env['UV_THREADPOOL_SIZE']) || 4, defaultHashConcurrency());
  const raw = await rawVerifyRate(input.storedHash, first.password, options.durationSeconds, concurrency);

  const loginSpec: LoadSpec = {
    name: 'login',
    origin: gateway.origin,
    path: AUTH_PATH,
    connections: LOGIN_CONNECTIONS,
    seconds: options.durationSeconds,
    body: loginBody(first),
    bodies: users.slice(0, LOGIN_CONNECTIONS).map(loginBody),
    accept: (status, body) => isCleanData(status, body) && body.includes('"accessToken":"'),
  };
  await sampleBodies(loginSpec);
  const before = await scrapeMetrics(gateway.origin);
  const cpuBefore = cpuNow(gateway.pid, input.databasePid);
  const login = await runLoad(loginSpec);
  const cpu = cpuPerLogin(cpuBefore, cpuNow(gateway.pid, input.databasePid), login.responses, raw.rate);
  await sleep(500);
  const commands = commandDelta(before, await scrapeMetrics(gateway.origin));
  checkRun(problems, login);

  const probe = (seconds: number): Promise<ProbeResult> =>
    probeLatency({
      url: `${gateway.origin}/graphql`,
      body: QUERIES.authenticated,
      headers: { cookie: input.cookie },
      seconds,
      periodMs: PROBE_PERIOD_MS,
      accept: isSessionAnswer,
    });
  await probe(options.warmupSeconds);
  const idleProbe = await probe(options.durationSeconds);
  const [stormLogin, stormProbe] = await Promise.all([runLoad({ ...loginSpec, name: 'login storm' }), probe(options.durationSeconds)]);
  checkRun(problems, stormLogin);
  for (const [name, result] of [['idle probe', idleProbe], ['storm probe', stormProbe]] as const) {
    if (result.rejected > 0) problems.report(name, `${result.rejected} unexpected bodies, first: ${result.firstRejected ?? ''}`);
  }
  const idle = summarizeLatency(idleProbe);
  const storm = summarizeLatency(stormProbe);
  // Requests and sweeper together: during logins the throttle deletes too, and the sweeper's share is tiny.
  // Divided by the logins the server completed (one session insert each), not by the responses autocannon
  // counted: those in flight when it stopped still finished, and their commands are in the count.
  const commandsPerLogin = (commands.requests + commands.sweeper) / (commands.byCommand['insert sessions'] ?? Number.NaN);
  return { concurrency, raw, login, ratio: login.rps / raw.rate, commands, commandsPerLogin, idle, storm, stormLogin, p99Ratio: storm.p99Ms / idle.p99Ms, cpu };
}

interface CpuReading {
  readonly gatewayUs: number;
  readonly databaseUs: number;
  readonly benchUs: number;
  readonly machine: { readonly busy: number; readonly total: number } | undefined;
}

function cpuNow(gatewayPid: number, databasePid: number | undefined): CpuReading {
  return {
    gatewayUs: treeCpuUs(gatewayPid),
    databaseUs: databasePid === undefined ? Number.NaN : (processCpuUs(databasePid) ?? Number.NaN),
    benchUs: processCpuUs(process.pid) ?? Number.NaN,
    machine: machineCpuUs(),
  };
}

function cpuPerLogin(before: CpuReading, after: CpuReading, logins: number, rawRate: number): LoginCpu {
  const perLoginMs = (from: number, to: number): number => (to - from) / logins / 1000;
  const gatewayMs = perLoginMs(before.gatewayUs, after.gatewayUs);
  const databaseMs = perLoginMs(before.databaseUs, after.databaseUs);
  const benchMs = perLoginMs(before.benchUs, after.benchUs);
  const machineBusy =
    before.machine && after.machine ? (after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total) : Number.NaN;
  const cores = availableParallelism();
  return { gatewayMs, databaseMs, benchMs, machineBusy, cores, ceilingRatio: (cores * 1000) / (gatewayMs + databaseMs + benchMs) / rawRate };
}

/**
 * The ceiling for login throughput on this machine: argon2id verifies of the very hash the gateway stored (so
 * with its parameters, whatever they are configured to), as many at once as the gateway hashes, for
 * as long as the login run. Measured here, in the bench process, while the gateways idle.
 */
async function rawVerifyRate(encoded: string, password: string, seconds: number, concurrency: number): Promise<LoginResult['raw']> {
  if (!(await verify(encoded, password))) throw new Error('argon2id verify refused the stored hash');
  let verifies = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await verify(encoded, password);
        verifies++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  // "$argon2id$v=19$m=19456,t=2,p=1$salt$hash": the parameters, for results.json.
  const parameters = encoded.split('$').slice(1, 4).join('$');
  return { parameters, verifies, seconds: elapsed, rate: verifies / elapsed };
}

function summarizeLatency(result: ProbeResult): LatencySummary {
  return {
    samples: result.samplesMs.length,
    p50Ms: percentile(result.samplesMs, 50),
    p99Ms: percentile(result.samplesMs, 99),
    maxMs: Math.max(...result.samplesMs),
  };
}
