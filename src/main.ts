import cluster from 'node:cluster';
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './logger.js';
import { runPrimary } from './workers.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const rootLogger = createLogger(config.logLevel);
  // WORKERS > 1: this process supervises (src/workers.ts) and each worker runs the rest of this function.
  if (config.workers > 1 && cluster.isPrimary) {
    for (const warning of config.warnings) rootLogger.warn(warning);
    await runPrimary(config, rootLogger);
    return;
  }
  const worker = cluster.isWorker ? cluster.worker : undefined;
  const logger = worker ? rootLogger.child({ worker: worker.id }) : rootLogger;
  // The primary has said them once already.
  if (!worker) for (const warning of config.warnings) logger.warn(warning);

  const app = await createApp(config, logger);
  await new Promise<void>((resolve, reject) => {
    app.httpServer.once('error', reject);
    app.httpServer.listen(config.http.port, config.http.host, resolve);
  });
  const address = app.httpServer.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  // A worker's start is announced by the primary once all listen; tools wait for this exact line.
  if (worker) logger.info({ pid: process.pid }, `worker ${worker.id} is listening on port ${port}`);
  else logger.info(`Portcullis is listening on http://${config.http.host}:${port}/graphql (${config.env})`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('Portcullis failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
