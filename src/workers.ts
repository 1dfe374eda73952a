import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config/config.js';
import type { Logger } from './logger.js';
import { startEmbeddedMongo, type EmbeddedMongo } from './stores/embedded-mongo.js';

/** A worker that lived at least this long died of something other than a crash loop: replace it at once. */
const STABLE_MS = 10_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** Workers drain for up to the 15 s request timeout; past this one that still runs is killed. */
const STOP_TIMEOUT_MS = 30_000;

/**
 * The primary of WORKERS=N (node:cluster): it serves no request itself. Workers are whole gateways (app.ts) on
 * the one port; what must happen once happens here or is made safe to race:
 * - configuration, so development secrets are generated once (config.ts, before any fork) and workers read the file;
 * - the embedded development mongod: the primary starts it, and workers find it through DATA_DIR/mongod.json, as
 *   the user CLI does;
 * - index creation and the first signing key: the first worker starts alone and the others only once it listens,
 *   so they find both in place. Both are also safe when several instances start at once (createIndex is
 *   idempotent; a signing key's unique generation lets one insert win), as they must be for several hosts;
 * - the key rotation schedule and the revocation view are per process, polled like separate instances: a
 *   revocation made through one worker reaches the others within the poll (250 ms), as it reaches other hosts.
 * A worker that dies is replaced, after a pause that doubles while replacements keep dying young.
 */
export async function runPrimary(config: Config, logger: Logger): Promise<void> {
  let embedded: EmbeddedMongo | undefined;
  if (config.database.uri === undefined) embedded = await startEmbeddedMongo(config.dataDir, logger);

  const workers = new Set<Worker>();
  let stopping = false;
  let everListened = false;
  let quickDeaths = 0;
  let replacement: NodeJS.Timeout | undefined;

  const fork = (): Worker => {
    const worker = cluster.fork();
    const startedAt = Date.now();
    workers.add(worker);
    worker.once('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      if (!everListened) {
        // Start-up failed (a refused configuration, an unreachable database): the worker said why; no loop.
        logger.error({ pid: worker.process.pid, code, signal }, 'the first worker exited before listening; stopping');
        void shutdown('start-up failure', 1);
        return;
      }
      quickDeaths = Date.now() - startedAt < STABLE_MS ? quickDeaths + 1 : 0;
      const delay = quickDeaths === 0 ? 0 : Math.min(FIRST_BACKOFF_MS * 2 ** (quickDeaths - 1), MAX_BACKOFF_MS);
      logger.warn({ pid: worker.process.pid, code, signal, replaceInMs: delay }, 'a worker exited; starting a replacement');
      replacement = setTimeout(() => {
        replacement = undefined;
        if (!stopping) fork();
      }, delay);
    });
    return worker;
  };

  async function shutdown(reason: string, exitCode: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    if (replacement) clearTimeout(replacement);
    logger.info({ reason, workers: workers.size }, 'stopping every worker');
    const exits = [...workers].map(
      (worker) =>
        new Promise<number>((resolve) => {
          if (worker.isDead()) {
            resolve(worker.process.exitCode ?? 1);
            return;
          }
          const timer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
          worker.once('exit', (code) => {
            clearTimeout(timer);
            resolve(code ?? 1);
          });
          // Each worker drains its requests and closes its database (main.ts, single-process path).
          worker.process.kill('SIGTERM');
        }),
    );
    const codes = await Promise.all(exits);
    await embedded?.stop().catch((error: unknown) => logger.error({ err: error }, 'could not stop the embedded MongoDB'));
    process.exit(codes.every((code) => code === 0) ? exitCode : 1);
  }
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  // The first worker starts alone (see above); the others once it listens. The start is announced once every
  // worker listens, with the line a single process logs (tools wait for it).
  const listeningWorkers = new Set<Worker>();
  let announced = false;
  cluster.on('listening', (worker, address) => {
    listeningWorkers.add(worker);
    worker.once('exit', () => listeningWorkers.delete(worker));
    if (!everListened) {
      everListened = true;
      for (let i = 1; i < config.workers; i++) fork();
    }
    if (!announced && !stopping && listeningWorkers.size === config.workers) {
      announced = true;
      logger.info(`Portcullis is listening on http://${config.http.host}:${address.port}/graphql (${config.env}, ${config.workers} workers)`);
    }
  });
  fork();
}
