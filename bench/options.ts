/** What one run of the bench does; everything that differs between `--smoke` and a real run is here. */
export interface BenchOptions {
  readonly smoke: boolean;
  /** Seconds of every autocannon run (and of the raw argon2 and latency-probe phases). */
  readonly durationSeconds: number;
  /** Warm-up before the measured runs of each gateway, so the JIT and caches are not part of the first figure. */
  readonly warmupSeconds: number;
  readonly reachTrials: number;
  readonly seededRevocations: number;
  readonly resultsFile: string;
  /**
   * `--only gateway`: figure 7 alone (its own upstream and gateway); `--only login`: figure 3 alone (a gateway
   * of its own); `--only peers`: the peers figure alone (Hive Gateway against 1 and 2 workers); `--only
   * subscriptions`: figure 8 alone. Printed but not written to resultsFile.
   */
  readonly only: 'gateway' | 'login' | 'peers' | 'subscriptions' | undefined;
  /** `--cpu-prof DIR`: figure 7's gateway, the peers figure's Portcullis gateways and `--only login`'s each write a V8 CPU profile there when they stop (open in Chrome DevTools). */
  readonly cpuProfileDir: string | undefined;
}

const USAGE = 'usage: npm run bench [-- --smoke] [-- --duration SECONDS] [-- --only gateway|login|peers|subscriptions] [-- --cpu-prof DIR]';

export function parseOptions(argv: readonly string[]): BenchOptions {
  let smoke = false;
  let duration: number | undefined;
  let only: 'gateway' | 'login' | 'peers' | 'subscriptions' | undefined;
  let cpuProfileDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--smoke') smoke = true;
    else if (arg === '--duration' || arg?.startsWith('--duration=')) {
      const text = arg === '--duration' ? argv[++i] : arg.slice('--duration='.length);
      duration = Number(text);
      if (!Number.isFinite(duration) || duration <= 0) throw new Error(`--duration needs a positive number of seconds, got ${String(text)}\n${USAGE}`);
    } else if (arg === '--only' || arg?.startsWith('--only=')) {
      const text = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (text !== 'gateway' && text !== 'login' && text !== 'peers' && text !== 'subscriptions') throw new Error(`--only knows gateway, login, peers and subscriptions; got ${String(text)}\n${USAGE}`);
      only = text;
    } else if (arg === '--cpu-prof' || arg?.startsWith('--cpu-prof=')) {
      cpuProfileDir = arg === '--cpu-prof' ? argv[++i] : arg.slice('--cpu-prof='.length);
      if (!cpuProfileDir) throw new Error(`--cpu-prof needs a directory\n${USAGE}`);
    } else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${String(arg)}\n${USAGE}`);
    }
  }
  // The smoke only proves that every phase still runs (CI): about a second each, tiny data, no goals.
  return smoke
    ? { smoke, durationSeconds: duration ?? 1, warmupSeconds: 0.5, reachTrials: 3, seededRevocations: 1_000, resultsFile: 'bench/results.smoke.json', only, cpuProfileDir }
    : { smoke, durationSeconds: duration ?? 10, warmupSeconds: 2, reachTrials: 30, seededRevocations: 100_000, resultsFile: 'bench/results.json', only, cpuProfileDir };
}
