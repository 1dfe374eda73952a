/** GraphQL over SSE (graphql-sse, distinct connections) at /graphql/stream, two instances on one database. */
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamService } from '../../examples/upstream-service.js';
import { ACCESS_COOKIE, AUTH_PATH } from '../../src/http/cookies.js';
import type { TestGateway } from '../support/gateway.js';
import { eventually, send } from '../gateway/support.js';
import { login, PASSWORD, startTwoInstances, type TwoInstances } from './support.js';

interface Stream {
  readonly events: Array<{ data?: unknown; errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }>;
  readonly ended: Promise<{ completed: boolean; error?: unknown; at: number }>;
  stop(): void;
}

function stream(gatewayUrl: string, query: string, headers: Record<string, string>): Stream {
  const client = createClient({ url: `${gatewayUrl}/graphql/stream`, headers, retryAttempts: 0 });
  const events: Stream['events'] = [];
  let stop: () => void = () => undefined;
  const ended = new Promise<{ completed: boolean; error?: unknown; at: number }>((resolve) => {
    stop = client.subscribe(
      { query },
      {
        next: (event) => void events.push(event as Stream['events'][number]),
        error: (error) => resolve({ completed: false, error, at: performance.now() }),
        complete: () => resolve({ completed: true, at: performance.now() }),
      },
    );
  });
  return { events, ended, stop: () => stop() };
}


describe('GraphQL over SSE at /graphql/stream, bound to the session', () => {
  let instances: TwoInstances;
  let shop: UpstreamService;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    instances = await startTwoInstances({ ALLOWED_ORIGINS: 'https://app.example.com' });
    ({ shop, a, b } = instances);
  }, 60_000);
  afterAll(async () => {
    await instances?.stop();
  });

  it('ends the stream held on instance B with an UNAUTHENTICATED event within a second of a logout on A, and the upstream’s too', async () => {
    await a.createUser({ email: 'jo@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(a.url, 'jo@example.com');
    const reviews = stream(b.url, 'subscription { reviewAdded(productId: "p2") { text } }', { authorization: `Bearer ${token}` });
    await eventually(() => shop.live.active === 1);
    const added = await send(a.url, 'mutation { addReview(productId: "p2", rating: 4, text: "over sse") { id } }', { token });
    expect(added.body.errors).toBeUndefined();
    await eventually(() => reviews.events.length === 1);
    expect(reviews.events[0]).toEqual({ data: { reviewAdded: { text: 'over sse' } } });

    const response = await fetch(`${a.url}${AUTH_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation { logout }' }),
    });
    expect(response.status).toBe(200);
    const loggedOutAt = performance.now();
    const ended = await reviews.ended;
    expect(ended.completed).toBe(true);
    expect(ended.at - loggedOutAt).toBeLessThan(1_000);
    expect(reviews.events.at(-1)?.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
    await eventually(() => shop.live.active === 0, 2_000);
  });

  it('answers 401 to an invalid token before running anything, and 403 to a foreign Origin with a cookie', async () => {
    const invalid = await stream(b.url, 'subscription { mySessionEvents { kind } }', { authorization: 'Bearer nope' }).ended;
    expect(invalid.completed).toBe(false);
    expect((invalid.error as { response?: Response }).response?.status).toBe(401);

    await a.createUser({ email: 'kim@example.com', password: PASSWORD, roles: ['USER'] });
    const token = await login(a.url, 'kim@example.com');
    const cookie = `${ACCESS_COOKIE}=${token}`;
    const foreign = await stream(b.url, 'subscription { mySessionEvents { kind } }', { cookie, origin: 'https://evil.example' }).ended;
    expect((foreign.error as { response?: Response }).response?.status).toBe(403);

    // Control: the same cookie from an allowed origin is served.
    const allowed = stream(b.url, '{ me { email } }', { cookie, origin: 'https://app.example.com' });
    expect((await allowed.ended).completed).toBe(true);
    expect(allowed.events).toEqual([{ data: { me: { email: 'kim@example.com' } } }]);
  });

  it('refuses a guest a guarded field with UNAUTHENTICATED', async () => {
    const guest = stream(b.url, 'subscription { mySessionEvents { kind } }', {});
    expect((await guest.ended).completed).toBe(true);
    expect(guest.events[0]?.errors?.[0]?.extensions?.['code']).toBe('UNAUTHENTICATED');
  });
});
