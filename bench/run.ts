/**
 * `npm run bench`: starts real gateways as child processes on a database of this run, drives them from this
 * process, prints a table and writes bench/results.json (bench/results.smoke.json with --smoke). Every figure
 * with a reference is shown against that reference measured in the same run: on a shared machine absolute
 * numbers move from run to run, ratios much less. See docs/performance.md.
 */
import { writeFileSync } from 'node:fs';
import { loginForAccessCookie, signUpUsers, type Credentials } from './client.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { measureOverhead } from './figures/auth-overhead.js';
import { measureGateway, type GatewayFigure } from './figures/gateway.js';
import { measurePeers, renderPeers, type PeersFigure } from './figures/peers.js';
import { LOGIN_CONNECTIONS, measureLogin } from './figures/login.js';
import { measureMemory } from './figures/memory.js';
import { measureReach } from './figures/reach.js';
import { measureRefresh } from './figures/refresh.js';
import { measureSubscriptions, reportSubscriptions } from './figures/subscriptions.js';
import { generateSecrets, killGatewaysNow, markGatewaysStopping, startGateway, type GatewayProcess, type GatewaySecrets } from './gateway.js';
import { commandDelta, scrapeMetrics } from './metrics.js';
import { parseOptions, type BenchOptions } from './options.js';
import { Problems } from './problems.js';
import { buildReport, describeMachine, describeSource, renderTable } from './report.js';
import { startUpstream } from './upstream.js';

/** Undone in reverse order on every way out: gateways stopped, databases dropped, embedded server stopped. */
const cleanups: Array<() => Promise<void>> = [];

let cleaning: Promise<void> | undefined;

/** One cleanup however many ways out are taken at once (Ctrl-C also makes the running phase fail). */
function cleanUp(): Promise<void> {
  cleaning ??= (async (): Promise<void> => {
    for (let step = cleanups.pop(); step; step = cleanups.pop()) {
      await step().catch((error: unknown) => console.error('bench: cleanup step failed:', error instanceof Error ? error.message : error));
    }
  })();
  return cleaning;
}

const log = (message: string): void => console.error(`bench: ${message}`);

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const problems = new Problems(!options.smoke);
  const began = performance.now();

  log(`database: ${process.env['MONGODB_URI'] ? 'MONGODB_URI' : 'starting mongodb-memory-server'}`);
  const database = await openBenchDatabase();
  cleanups.push(() => database.close());
  const secrets = generateSecrets();
  const launch = async (gatewayOptions: Parameters<typeof startGateway>[0]): Promise<GatewayProcess> => {
    const gateway = await startGateway(gatewayOptions);
    cleanups.push(() => gateway.stop());
    return gateway;
  };

  if (options.only === 'gateway') {
    log('7. the gateway in front of the example upstream (--only gateway)');
    const gateway = await figureGateway(database, secrets, options, problems, launch);
    const perRun = gateway.runs.map(({ kind, run }) => `${kind} ${Math.round(run.rps)}`).join(', ');
    const cpu = Object.entries(gateway.cpuUsPerRequest)
      .map(([kind, { gatewayUs, upstreamUs }]) => `${kind}: gateway ${gatewayUs.toFixed(0)} µs, upstream ${upstreamUs.toFixed(0)} µs`)
      .join('; ');
    console.log(
      `direct ${Math.round(gateway.directRps)} req/s, guest ${Math.round(gateway.guestRps)} req/s, signed in ${Math.round(gateway.signedInRps)} req/s; ` +
        `signed in / direct ${gateway.signedInToDirect.toFixed(3)} (goal ≥ 0.90), signed in / guest ${gateway.signedInToGuest.toFixed(3)} (goal ≥ 0.97); ` +
        `the gateway adds ${gateway.gatewayAddedUs.toFixed(0)} µs/request, signing in ${gateway.signedInAddedUs.toFixed(0)} µs more.\n` +
        `CPU per request: ${cpu}; gateway answering { __typename } itself ${gateway.ownTypenameCpuUs.toFixed(0)} µs (${Math.round(gateway.ownTypenameRps)} req/s).\nRuns: ${perRun}.`,
    );
    console.log(`\n${options.durationSeconds} s per run; bench took ${((performance.now() - began) / 1000).toFixed(0)} s. Not written to ${options.resultsFile}.`);
    if (problems.list.length > 0) console.log(`Problems:\n${problems.list.map((line) => `  - ${line}`).join('\n')}`);
    return;
  }

  if (options.only === 'peers') {
    const peers = await figurePeers(database, secrets, options, problems, launch);
    console.log(renderPeers(peers));
    console.log(`\n${options.durationSeconds} s per run; bench took ${((performance.now() - began) / 1000).toFixed(0)} s. Not written to ${options.resultsFile}.`);
    if (problems.list.length > 0) console.log(`Problems:\n${problems.list.map((line) => `  - ${line}`).join('\n')}`);
    return;
  }

  if (options.only === 'login') {
    log('3. login throughput and login storm (--only login)');
    const alone = await launch({ name: 'login', mongodbUri: database.uriFor('login'), secrets,
      ...(options.cpuProfileDir !== undefined && { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] }),
    });
    const accounts = await signUpUsers(alone.origin, LOGIN_CONNECTIONS + 1);
    const users = accounts.slice(0, LOGIN_CONNECTIONS);
    const cookie = await loginForAccessCookie(alone.origin, accounts[LOGIN_CONNECTIONS] as Credentials);
    const storedHash = await database.passwordHashOf('login', (users[0] as Credentials).email);
    const login = await measureLogin({ gateway: alone, users, storedHash, databasePid: database.pid, cookie, options, problems });
    console.log(
      `logins ${login.login.rps.toFixed(1)}/s against raw argon2id ${login.raw.rate.toFixed(1)}/s (${login.raw.parameters}, ${login.concurrency} at once): ` +
        `ratio ${login.ratio.toFixed(3)} (goal ≥ 0.75); ${login.commandsPerLogin.toFixed(1)} database commands per login: ${JSON.stringify(login.commands.byCommand)}; ` +
        `query p99 during the storm ${login.storm.p99Ms.toFixed(2)} ms against ${login.idle.p99Ms.toFixed(2)} ms idle (${login.p99Ratio.toFixed(2)}×).\n` +
        `CPU per login: gateway ${login.cpu.gatewayMs.toFixed(1)} ms, database ${login.cpu.databaseMs.toFixed(1)} ms, load generator ${login.cpu.benchMs.toFixed(1)} ms; ` +
        `machine ${(login.cpu.machineBusy * 100).toFixed(0)} % busy of ${login.cpu.cores} cores; with every core busy at most ${login.cpu.ceilingRatio.toFixed(3)} of raw.`,
    );
    console.log(`\n${options.durationSeconds} s per run; bench took ${((performance.now() - began) / 1000).toFixed(0)} s. Not written to ${options.resultsFile}.`);
    if (problems.list.length > 0) console.log(`Problems:\n${problems.list.map((line) => `  - ${line}`).join('\n')}`);
    return;
  }

  if (options.only === 'subscriptions') {
    log('8. live subscriptions (--only subscriptions)');
    const live = await measureSubscriptions({ database, secrets, options, problems, launch });
    console.log(renderTable(reportSubscriptions(live).rows));
    console.log(`\nbench took ${((performance.now() - began) / 1000).toFixed(0)} s. Not written to ${options.resultsFile}.`);
    if (problems.list.length > 0) console.log(`Problems:\n${problems.list.map((line) => `  - ${line}`).join('\n')}`);
    return;
  }

  // Two instances on one database: the default configuration, and the same with the verified-token cache off
  // (the "before" of figure 1). Together they are also instances B and A of figure 5.
  log('starting gateways');
  const mainUri = database.uriFor('main');
  const [cacheOn, cacheOff] = await Promise.all([
    launch({ name: 'cache-on', mongodbUri: mainUri, secrets }),
    launch({ name: 'cache-off', mongodbUri: mainUri, secrets, env: { ACCESS_TOKEN_CACHE_SIZE: '0' } }),
  ]);
  // The cache-off instance serves only database-free queries until figure 5: what it sends to the database
  // meanwhile is its background work alone (revocation polling, expiry sweeps), over minutes rather than seconds.
  const backgroundStart = await scrapeMetrics(cacheOff.origin);
  // One account more than the login runs use: the probe's session must not be among those a storm of logins to
  // the same accounts ends when MAX_SESSIONS_PER_USER is passed.
  const accounts = await signUpUsers(cacheOn.origin, LOGIN_CONNECTIONS + 1);
  const users = accounts.slice(0, LOGIN_CONNECTIONS);
  const user = users[0] as Credentials;
  const cookie = await loginForAccessCookie(cacheOn.origin, accounts[LOGIN_CONNECTIONS] as Credentials);
  const storedHash = await database.passwordHashOf('main', user.email);

  log('1-2. authenticated vs anonymous queries, database commands');
  const overheadOn = await measureOverhead({ gateway: cacheOn, label: 'cache on', cookie, expectCache: true, options, problems });
  const overheadOff = await measureOverhead({ gateway: cacheOff, label: 'cache off', cookie, expectCache: false, options, problems });
  log('3. login throughput and login storm');
  const login = await measureLogin({ gateway: cacheOn, users, storedHash, databasePid: database.pid, cookie, options, problems });
  log('4. refresh rotations');
  const refresh = await measureRefresh({ gateway: cacheOn, users, options, problems });
  const background = commandDelta(backgroundStart, await scrapeMetrics(cacheOff.origin));
  if (background.requests > 0) problems.report('background', `${background.requests} database commands not explained by polling or sweeping: ${JSON.stringify(background.byCommand)}`);
  log('5. revocation reach');
  // B is the default configuration, whose cache holds the token when the logout happens.
  const reach = await measureReach({ a: cacheOff, b: cacheOn, user, trials: options.reachTrials, problems });
  await Promise.all([cacheOn.stop(), cacheOff.stop()]);
  log(`6. memory with ${options.seededRevocations.toLocaleString('en-US')} revocations`);
  const memory = await measureMemory({ database, secrets, count: options.seededRevocations, launch, problems });
  log('7. the gateway in front of the example upstream');
  const gateway = await figureGateway(database, secrets, options, problems, launch);
  log('8. live subscriptions');
  const subscriptions = await measureSubscriptions({ database, secrets, options, problems, launch });

  // The peers (Hive Gateway, installed on demand in bench/peers): not in the smoke run, which CI makes.
  let peers: PeersFigure | undefined;
  if (!options.smoke) {
    log('9. peers: Hive Gateway, Portcullis with 1 and 2 workers, the upstream direct');
    peers = await figurePeers(database, secrets, options, problems, launch);
  }

  const figures = { cacheOn: overheadOn, cacheOff: overheadOff, background, login, refresh, reach, memory, gateway, subscriptions, peers };
  const { rows, goals } = buildReport(figures);
  const machine = describeMachine();
  const table = renderTable(rows);
  const elapsedSeconds = (performance.now() - began) / 1000;
  console.log(table);
  if (peers) console.log(`\n${renderPeers(peers)}`);
  console.log(
    `\nMachine: ${machine.cpus} × ${machine.model}, ${machine.totalMemoryGiB} GiB, ${machine.os}, Node ${machine.node}. ` +
      `Database: ${database.source} (${JSON.stringify(database.server)}). ${options.durationSeconds} s per run; bench took ${elapsedSeconds.toFixed(0)} s.`,
  );
  if (options.smoke) console.log('Smoke run: durations and data are tiny; the figures are not meaningful and no goal is asserted.');
  else console.log(`Goals met: ${goals.filter((goal) => goal.met).length} of ${goals.length}.`);
  if (problems.list.length > 0) console.log(`Problems:\n${problems.list.map((line) => `  - ${line}`).join('\n')}`);

  const results = {
    date: new Date().toISOString(),
    mode: options.smoke ? 'smoke' : 'full',
    options,
    machine,
    source: describeSource(),
    database: { source: database.source, server: database.server },
    elapsedSeconds,
    goals,
    table: rows,
    problems: problems.list,
    figures,
  };
  writeFileSync(options.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${options.resultsFile}`);
}

/** Figure 7 with an upstream and a gateway of its own, both stopped before it returns. */
async function figureGateway(
  database: BenchDatabase,
  secrets: GatewaySecrets,
  options: BenchOptions,
  problems: Problems,
  launch: (gatewayOptions: Parameters<typeof startGateway>[0]) => Promise<GatewayProcess>,
): Promise<GatewayFigure> {
  const upstream = await startUpstream({ secrets });
  cleanups.push(() => upstream.stop());
  // Schema polling off: a poll during a run would be measured as gateway work that no request caused.
  const fronting = await launch({ name: 'gateway', mongodbUri: database.uriFor('gateway'), secrets, env: { UPSTREAMS: `shop=${upstream.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '0' },
    ...(options.cpuProfileDir !== undefined && { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] }),
  });
  const gateway = await measureGateway({ upstream, gateway: fronting, options, problems });
  await Promise.all([fronting.stop(), upstream.stop()]);
  return gateway;
}

/** The peers figure with an upstream of its own; Portcullis with 1, then 2 workers, each stopped after its runs. */
async function figurePeers(
  database: BenchDatabase,
  secrets: GatewaySecrets,
  options: BenchOptions,
  problems: Problems,
  launch: (gatewayOptions: Parameters<typeof startGateway>[0]) => Promise<GatewayProcess>,
): Promise<PeersFigure> {
  const upstream = await startUpstream({ secrets });
  cleanups.push(() => upstream.stop());
  const launchPortcullis = (workers: number): Promise<GatewayProcess> =>
    launch({
      name: `peers-${workers}`,
      mongodbUri: database.uriFor('peers'),
      secrets,
      env: { UPSTREAMS: `shop=${upstream.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '0', WORKERS: String(workers) },
      ...(options.cpuProfileDir !== undefined && { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] }),
    });
  const peers = await measurePeers({ upstream, launchPortcullis, options, problems, log });
  await upstream.stop();
  return peers;
}

let interrupted = false;
process.on('SIGINT', () => {
  // Repeats are ignored, not taken as "exit now": tsx's CLI relays the terminal's Ctrl-C a second time when this
  // process is slow to acknowledge the first (it is busy driving load), and the cleanup is bounded anyway.
  if (interrupted) return;
  interrupted = true;
  markGatewaysStopping();
  log('interrupted; stopping gateways and dropping the bench databases');
  void cleanUp().finally(() => process.exit(130));
});
process.on('exit', killGatewaysNow);

main()
  .then(cleanUp)
  .then(
    () => process.exit(0),
    async (error: unknown) => {
      if (!interrupted) console.error(`bench: FAILED — ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      await cleanUp();
      process.exit(interrupted ? 130 : 1);
    },
  );
