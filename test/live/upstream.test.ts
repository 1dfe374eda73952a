/**
 * Upstream subscriptions through two real gateway instances on one database, to the real example shop
 * (examples/upstream-service.ts, graphql-ws on ws), with real graphql-ws clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstreamService, type UpstreamService } from '../../examples/upstream-service.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { identityKeyOf } from '../upstream/support.js';
import { eventually, send } from '../gateway/support.js';
import { liveClient, login, PASSWORD, startTwoInstances, subscribe, type TwoInstances } from './support.js';
const REVIEWS = 'subscription { reviewAdded(productId: "p1") { id text } }';
const ORDERS = 'subscription { orderPlaced { id total } }';


async function addReview(gatewayUrl: string, token: string, text: string): Promise<void> {
  const answer = await send(gatewayUrl, 'mutation($text: String!) { addReview(productId: "p1", rating: 5, text: $text) { id } }', { token, variables: { text } });
  expect(answer.body.errors).toBeUndefined();
}

describe('upstream subscriptions through the gateway, bound to the session', () => {
  let instances: TwoInstances;
  let shop: UpstreamService;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    instances = await startTwoInstances();
    ({ shop, a, b } = instances);
  }, 60_000);
  afterAll(async () => {
    await instances?.stop();
  });

  it('passes upstream events through with the identity token, never the client’s token or cookie', async () => {
    await a.createUser({ email: 'fay@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(a.url, 'fay@example.com');
    const cookie = `__Host-portcullis-access=${token}`;
    shop.live.inits.length = 0;
    shop.live.upgrades.length = 0;
    const live = liveClient(b.url, { token, headers: { cookie } });
    const reviews = subscribe(live, REVIEWS);
    await eventually(() => shop.live.active === 1);
    await addReview(a.url, token, 'lovely');
    const event = await reviews.next();
    expect(event).toEqual({ data: { reviewAdded: { id: expect.any(String), text: 'lovely' } } });

    const seen = JSON.stringify([shop.live.inits, shop.live.upgrades]);
    expect(seen).not.toContain(token);
    expect(seen).not.toContain('portcullis-access');
    const authorization = String(shop.live.inits[0]?.['authorization']);
    expect(authorization).toMatch(/^Bearer ey/);
    await live.dispose();
    await eventually(() => shop.live.active === 0);
  });

  it('multiplexes one client connection’s subscriptions on one upstream socket, and another person’s on another', async () => {
    for (const email of ['kai@example.com', 'lea@example.com']) await a.createUser({ email, password: PASSWORD, roles: ['USER'] });
    const kai = await login(a.url, 'kai@example.com');
    const lea = await login(a.url, 'lea@example.com');
    const socketsBefore = shopSockets(shop).length;
    shop.live.inits.length = 0;
    const kaiLive = liveClient(b.url, { token: kai });
    const kaiReviews = [subscribe(kaiLive, REVIEWS), subscribe(kaiLive, REVIEWS), subscribe(kaiLive, REVIEWS.replace('p1', 'p2'))];
    await eventually(() => shop.live.active === 3);
    expect(shopSockets(shop).length - socketsBefore).toBe(1);
    const leaLive = liveClient(b.url, { token: lea });
    const leaReviews = subscribe(leaLive, REVIEWS);
    await eventually(() => shop.live.active === 4);
    expect(shopSockets(shop).length - socketsBefore).toBe(2);
    // Each socket said who it was once, with its own person's identity.
    const identities = shop.live.inits.map((init) => String(init['authorization']));
    expect(identities).toHaveLength(2);
    expect(new Set(identities).size).toBe(2);

    await addReview(a.url, lea, 'shared socket');
    for (const reviews of [kaiReviews[0]!, kaiReviews[1]!, leaReviews]) {
      expect((await reviews.next()).data).toEqual({ reviewAdded: { id: expect.any(String), text: 'shared socket' } });
    }
    // One subscription ending leaves the others on the socket; the last one ending closes it.
    kaiReviews[0]!.stop();
    await eventually(() => shop.live.active === 3);
    expect(shopSockets(shop).length - socketsBefore).toBe(2);
    await kaiLive.dispose();
    await eventually(() => shop.live.active === 1 && shopSockets(shop).length - socketsBefore === 1);
    await leaLive.dispose();
    await eventually(() => shop.live.active === 0 && shopSockets(shop).length === socketsBefore);
  });

  it('the example upstream checks the identity when a subscription starts: none is refused, a forged one closes the connection', async () => {
    const shopOrigin = shop.url.replace(/\/graphql$/, '');
    const anonymous = liveClient(shopOrigin);
    const refused = await subscribe(anonymous, REVIEWS).next();
    expect(refused.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    await anonymous.dispose();
    const forged = liveClient(shopOrigin, { params: { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged' } });
    subscribe(forged, REVIEWS);
    expect((await forged.closed).code).toBe(4403);
  });

  it('refuses a guest a guarded upstream subscription without opening it upstream', async () => {
    const before = shop.resolved.get('Subscription.reviewAdded') ?? 0;
    const live = liveClient(b.url);
    const answer = await subscribe(live, REVIEWS).next();
    expect(answer.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    expect(shop.resolved.get('Subscription.reviewAdded') ?? 0).toBe(before);
    await live.dispose();
  });

  it('ends only the role-guarded subscription, with FORBIDDEN, when the role is removed on the other instance', async () => {
    const user = await a.createUser({ email: 'gus@example.com', password: PASSWORD, roles: ['USER', 'ADMIN'] });
    const token = await login(a.url, 'gus@example.com');
    const live = liveClient(b.url, { token });
    const reviews = subscribe(live, REVIEWS);
    const orders = subscribe(live, ORDERS);
    await eventually(() => shop.live.active === 2);

    await a.app.auth.setUserRoles({ kind: 'cli' }, user.id, ['USER']);
    const removedAt = performance.now();
    const ended = await orders.ended;
    expect(ended.completed).toBe(true);
    expect(ended.at - removedAt).toBeLessThan(1_000);
    expect(orders.events.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    await eventually(() => shop.live.active === 1);

    // The other one goes on.
    await addReview(a.url, token, 'still here');
    expect((await reviews.next()).data).toEqual({ reviewAdded: { id: expect.any(String), text: 'still here' } });
    await live.dispose();
    await eventually(() => shop.live.active === 0);
  });

  it('closes the client 4403 within a second of a logout on the other instance, and completes the upstream subscription', async () => {
    await a.createUser({ email: 'hal@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(a.url, 'hal@example.com');
    const live = liveClient(b.url, { token });
    subscribe(live, REVIEWS);
    await eventually(() => shop.live.active === 1);
    const completedBefore = shop.live.completed;

    const response = await fetch(`${a.url}${AUTH_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });
    expect(response.status).toBe(200);
    const loggedOutAt = performance.now();
    const closed = await live.closed;
    expect(closed.code).toBe(4403);
    expect(closed.at - loggedOutAt).toBeLessThan(1_000);
    await eventually(() => shop.live.active === 0 && shop.live.completed === completedBefore + 1, 2_000);
  });

  it('answers UPSTREAM_UNAVAILABLE when the upstream’s subscription fails', async () => {
    await a.createUser({ email: 'ida@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(a.url, 'ida@example.com');
    const live = liveClient(b.url, { token });
    const reviews = subscribe(live, REVIEWS);
    await eventually(() => shop.live.active === 1);
    // The upstream drops every WebSocket it holds (as a crash would).
    for (const client of shopSockets(shop)) client.terminate();
    const event = await reviews.next();
    expect(event.errors?.[0]?.extensions?.['code']).toBe('UPSTREAM_UNAVAILABLE');
    expect((await reviews.ended).completed).toBe(true);
    await live.dispose();
  });
});

function shopSockets(shop: UpstreamService): Array<{ terminate(): void }> {
  return shop.live.sockets();
}

describe('upstream subscriptions opened over SSE (UPSTREAM_SUBSCRIPTIONS_<NAME>=sse)', () => {
  const secret = randomSecret();
  let shop: UpstreamService;
  let gateway: TestGateway;

  beforeAll(async () => {
    shop = await startUpstreamService({ gateway: { secret: await identityKeyOf(secret, 'shop') }, audience: 'shop' });
    gateway = await startGateway({
      config: testConfig({ JWT_SECRET: secret, UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SUBSCRIPTIONS_SHOP: 'sse', UPSTREAM_SUBSCRIPTIONS_URL_SHOP: `${shop.url}/stream` }),
    });
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await shop?.stop();
  });

  it('passes events through with the identity token in the Authorization header, and ends the upstream stream with the session', async () => {
    await gateway.createUser({ email: 'sue@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(gateway.url, 'sue@example.com');
    shop.live.upgrades.length = 0;
    const live = liveClient(gateway.url, { token });
    const reviews = subscribe(live, REVIEWS);
    await eventually(() => shop.live.active === 1);
    expect(String(shop.live.upgrades[0]?.authorization)).toMatch(/^Bearer ey/);
    expect(JSON.stringify(shop.live.upgrades)).not.toContain(token);
    await addReview(gateway.url, token, 'by sse');
    expect((await reviews.next()).data).toEqual({ reviewAdded: { id: expect.any(String), text: 'by sse' } });

    const response = await fetch(`${gateway.url}${AUTH_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });
    expect(response.status).toBe(200);
    expect((await live.closed).code).toBe(4403);
    await eventually(() => shop.live.active === 0, 2_000);
  });
});
