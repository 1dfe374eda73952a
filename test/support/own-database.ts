import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A database server of a test's own (FerretDB, scripts/ferretdb.sh), which it stops and starts again on the same
 * port: the run's shared server must stay up for every other test file.
 */
export class OwnDatabase {
  private readonly dir = mkdtempSync(join(tmpdir(), 'portcullis-outage-'));
  uri = '';

  async start(port?: string): Promise<void> {
    const { stdout } = await run('bash', ['scripts/ferretdb.sh', 'start', this.dir, ...(port ? [port] : [])]);
    this.uri = stdout.trim();
  }

  port(): string {
    const match = /:(\d+)\/?$/.exec(this.uri);
    if (!match) throw new Error(`no port in ${this.uri}`);
    return match[1]!;
  }

  async stop(): Promise<void> {
    await run('bash', ['scripts/ferretdb.sh', 'stop', this.dir]);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops what uses the server (a gateway, a connection), then the server, and removes its data, whatever the first throws. */
  async stopAfter(stopClients: () => Promise<unknown>): Promise<void> {
    try {
      await stopClients();
    } finally {
      await this.stop();
      this.remove();
    }
  }
}
