import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { OwnDatabase } from '../support/own-database.js';

/** The first port of the kernel's ephemeral range (Linux), or undefined elsewhere. */
function ephemeralLow(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return undefined;
  }
}

/**
 * scripts/ferretdb.sh, as the outage tests use it: they stop their server and start it again on the same port. It
 * once answered "listening" when another process held that port (FerretDB, unable to bind it, exited), and the
 * tests' clients then waited on a server that was not a database.
 */
describe('scripts/ferretdb.sh start', () => {
  const database = new OwnDatabase();
  let squatter: Server | undefined;
  afterAll(async () => {
    squatter?.close();
    database.remove();
  });

  it('fails, instead of handing out the port, when another process listens on the port it is given', async () => {
    squatter = createServer();
    await new Promise<void>((resolve) => squatter!.listen(0, '127.0.0.1', resolve));
    const port = String((squatter.address() as { port: number }).port);
    await expect(database.start(port)).rejects.toThrow(/address already in use/);
  });

  it('picks a port below the ephemeral range, where no outgoing connection or listen(0) can take it during a restart', async () => {
    const low = ephemeralLow();
    await database.start();
    try {
      if (low !== undefined && low > 11_000) expect(Number(database.port())).toBeLessThan(low);
      else expect(Number(database.port())).toBeGreaterThan(0);
    } finally {
      await database.stop();
    }
  });
});
