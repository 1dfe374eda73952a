import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, send, signIn, startUpstream, type TestUpstream } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('revocation in gateway mode, across two instances sharing one database', () => {
  let config: Config;
  let shop: TestUpstream;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    config = testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR' });
    a = await startGateway({ config });
    b = await startGateway({ config });
  });
  afterAll(async () => {
    // b.stop() drops the shared database; a only closes its connection.
    await a?.app.stop();
    await b?.stop();
    await shop?.close();
  });

  it('stops upstream calls for a logged-out session within a second, on the instance that did not log it out', async () => {
    const token = await signIn(a.url, a.createUser.bind(a), 'grace@example.com', ['USER']);
    // Control: B forwards the signed-in call upstream before the logout.
    shop.reset();
    expect((await send(b.url, '{ myOrders { id } }', { token })).body.errors).toBeUndefined();
    expect(shop.operations()).toHaveLength(1);

    const logout = await fetch(`${a.url}${AUTH_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });
    expect(((await logout.json()) as { data?: { logout?: boolean } }).data?.logout).toBe(true);
    const loggedOutAt = performance.now();

    let refusedAt: number | undefined;
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    while (performance.now() - loggedOutAt < 3_000) {
      const answer = await send(b.url, '{ myOrders { id } }', { token });
      if (answer.body.errors) {
        refused = answer;
        refusedAt = performance.now();
        break;
      }
      await sleep(50);
    }
    expect(refused, 'B kept forwarding the logged-out session').toBeDefined();
    expect(codesByPath(refused as Awaited<ReturnType<typeof send>>)).toEqual({ myOrders: 'UNAUTHENTICATED' });
    expect(refused?.body.errors?.[0]?.extensions?.['reason']).toBe('TOKEN_INVALID');
    expect((refusedAt ?? Infinity) - loggedOutAt).toBeLessThan(1_000);

    // From then on nothing of that session reaches the upstream.
    shop.reset();
    await send(b.url, '{ myOrders { id } }', { token });
    await send(a.url, '{ myOrders { id } }', { token });
    expect(shop.operations()).toHaveLength(0);
  });
});
