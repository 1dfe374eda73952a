import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginDocument, RefreshDocument } from '../generated/operations.js';
import { isRevocationViewRead } from '../support/commands.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';

interface Timed {
  readonly name: string;
  readonly started: number;
  finished: number;
}

/**
 * Sequential round trips: commands grouped into batches, where a batch starts with the first command sent after
 * every command of the previous batch has answered. Parallel commands share a batch.
 */
function roundTrips(commands: readonly Timed[]): number {
  let trips = 0;
  let batchEnd = Number.NEGATIVE_INFINITY;
  for (const command of [...commands].sort((a, b) => a.started - b.started)) {
    if (command.started >= batchEnd) {
      trips++;
      batchEnd = command.finished;
    } else {
      batchEnd = Math.max(batchEnd, command.finished);
    }
  }
  return trips;
}

describe('a refresh on the happy path', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('costs two database round trips: the token read, then the successor insert beside the session and user reads', async () => {
    const login = await gateway.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD, delivery: 'BODY' });
    const refreshToken = login.body.data?.login.refreshToken ?? '';

    const client = gateway.app.database.connection.getClient();
    // Enough pooled connections for the refresh's parallel commands beside a poll of the revocation view (three
    // parallel finds): a connection the driver opens on the way would show as a round trip of its own.
    await Promise.all(Array.from({ length: 12 }, () => client.db().command({ ping: 1 })));
    const inFlight = new Map<number, Timed>();
    const commands: Timed[] = [];
    const onStart = (event: mongo.CommandStartedEvent): void => {
      // The revocation view's poll and the expiry sweeper run on timers, not for the request.
      if (isRevocationViewRead(event) || event.commandName === 'delete') return;
      const timed = { name: `${event.commandName} ${String(event.command[event.commandName])}`, started: performance.now(), finished: Number.POSITIVE_INFINITY };
      inFlight.set(event.requestId, timed);
      commands.push(timed);
    };
    const onSucceed = (event: mongo.CommandSucceededEvent): void => {
      const timed = inFlight.get(event.requestId);
      if (timed) timed.finished = performance.now();
    };
    client.on('commandStarted', onStart);
    client.on('commandSucceeded', onSucceed);
    try {
      const refreshed = await gateway.request(RefreshDocument, { refreshToken });
      expect(refreshed.body.errors).toBeUndefined();
    } finally {
      client.off('commandStarted', onStart);
      client.off('commandSucceeded', onSucceed);
    }

    expect(commands.map((command) => command.name).sort()).toEqual(['find refresh_tokens', 'find session_step_ups', 'find sessions', 'find users', 'insert refresh_tokens']);
    expect(roundTrips(commands)).toBe(2);
  });
});
