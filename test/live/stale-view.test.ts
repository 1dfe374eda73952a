/**
 * Live connections and a revocation view that goes stale: because this process stalled (one long event-loop turn,
 * as when thousands of subscriptions arrive at once), or because the database cannot be read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveClose } from '../../src/live/types.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { OwnDatabase } from '../support/own-database.js';
import { liveClient, login, PASSWORD, sleep, subscribe, type LiveClient, type Subscription } from './support.js';

const EVENTS = 'subscription { mySessionEvents { kind sessionId } }';
const EMAIL = 'stall@example.com';
/** REVOCATION_MAX_LAG_SECONDS here. */
const MAX_LAG_MS = 1_000;

/** Blocks this process (gateway and clients alike) for `ms`: one event-loop turn that long. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose.
  }
}

describe('live connections while the revocation view is stale', () => {
  const database = new OwnDatabase();
  let gateway: TestGateway;

  beforeAll(async () => {
    await database.start();
    gateway = await startGateway({ config: testConfig({ MONGODB_URI: `${database.uri}portcullis_stale`, REVOCATION_MAX_LAG_SECONDS: String(MAX_LAG_MS / 1000) }) });
    await gateway.createUser({ email: EMAIL, password: PASSWORD });
  }, 60_000);
  afterAll(() => database.stopAfter(async () => gateway?.stop()));

  /** A signed-in connection whose subscription has delivered one event (so it runs). */
  async function liveSubscription(): Promise<{ live: LiveClient; events: Subscription }> {
    const live = liveClient(gateway.url, { token: await login(gateway.url, EMAIL) });
    const events = subscribe(live, EVENTS);
    await sleep(300);
    await login(gateway.url, EMAIL);
    expect((await events.next()).data?.['mySessionEvents']).toMatchObject({ kind: 'CREATED' });
    return { live, events };
  }

  it('keeps them open through a stall of this process longer than the bound, while the database is fine', async () => {
    const { live, events } = await liveSubscription();
    let closedWith: number | undefined;
    void live.closed.then(({ code }) => (closedWith = code));

    stall(MAX_LAG_MS * 2.5);
    // Sweeps run again, find the view stale, and a sync made at once mends it.
    await sleep(2_500);
    expect(closedWith).toBeUndefined();
    await login(gateway.url, EMAIL);
    expect((await events.next()).data?.['mySessionEvents']).toMatchObject({ kind: 'CREATED' });
    await live.dispose();
  });

  it('closes them with 1013 when the database cannot be read for longer than the bound', async () => {
    const { live } = await liveSubscription();
    const port = database.port();
    await database.stop();
    const stoppedAt = performance.now();
    try {
      const { code, at } = await live.closed;
      expect(code).toBe(LiveClose.UNAVAILABLE);
      // The bound, the grace of a second for a sync asked for at once, and a sweep or two.
      expect(at - stoppedAt).toBeLessThan(MAX_LAG_MS + 1_000 + 2_000);
    } finally {
      await database.start(port);
    }
  });
});
