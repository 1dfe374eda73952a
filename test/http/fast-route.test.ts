import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

interface RawAnswer {
  readonly status: number;
  /** Every response header but the date and the connection's own. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive']);
const APP_ORIGIN = 'https://app.example.com';

/**
 * POST /graphql skips Express's router (src/http/front.ts); the same route with a query string still goes through
 * it. Every answer must be the same either way, whatever the request gets wrong.
 */
describe('POST /graphql without the router', () => {
  let gateway: TestGateway;
  let token: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ ALLOWED_ORIGINS: APP_ORIGIN }) });
    await gateway.createUser({ email: 'ada@example.com', password: 'correct horse battery staple' });
    const login = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken } }', variables: { e: 'ada@example.com', p: 'correct horse battery staple' } }),
    });
    token = ((await login.json()) as { data: { login: { accessToken: string } } }).data.login.accessToken;
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  async function post(path: string, body: string, headers: Record<string, string>): Promise<RawAnswer> {
    const response = await fetch(`${gateway.url}${path}`, { method: 'POST', headers, body });
    return { status: response.status, headers: Object.fromEntries([...response.headers].filter(([name]) => !PER_CONNECTION.has(name))), body: await response.text() };
  }

  const json = { 'content-type': 'application/json' };
  it.each<[string, () => string, () => Record<string, string>, number]>([
    ['a health check', () => JSON.stringify({ query: '{ __typename }' }), () => json, 200],
    ['a signed-in query', () => JSON.stringify({ query: '{ currentSession { roles } }' }), () => ({ ...json, authorization: `Bearer ${token}` }), 200],
    ['a query without the token it needs', () => JSON.stringify({ query: '{ currentSession { roles } }' }), () => json, 200],
    ['an allowed origin (CORS headers)', () => JSON.stringify({ query: '{ __typename }' }), () => ({ ...json, origin: APP_ORIGIN }), 200],
    ['a body that is not JSON', () => '{"query": ', () => json, 400],
    ['a body over the size limit', () => JSON.stringify({ query: `{ __typename }${' '.repeat(70_000)}` }), () => json, 413],
    ['a cross-site origin', () => JSON.stringify({ query: '{ __typename }' }), () => ({ ...json, origin: 'https://evil.example' }), 403],
    ['a cross-site request without Origin', () => JSON.stringify({ query: '{ __typename }' }), () => ({ ...json, 'sec-fetch-site': 'cross-site' }), 403],
    ['a simple request a browser could send cross-site (text/plain)', () => JSON.stringify({ query: '{ __typename }' }), () => ({ 'content-type': 'text/plain' }), 400],
    ['no query', () => JSON.stringify({ variables: {} }), () => json, 400],
  ])('answers %s exactly as the routed path does', async (_name, body, headers, status) => {
    const fast = await post('/graphql', body(), headers());
    const routed = await post('/graphql?routed=1', body(), headers());
    expect(fast).toEqual(routed);
    expect(fast.status).toBe(status);
    expect(fast.headers['x-frame-options']).toBe('DENY');
    expect(fast.headers['cache-control']).toBe('no-store');
  });

  it('gives an allowed origin its CORS headers, and a cross-site one none', async () => {
    const allowed = await post('/graphql', JSON.stringify({ query: '{ __typename }' }), { ...json, origin: APP_ORIGIN });
    expect(allowed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    const refused = await post('/graphql', JSON.stringify({ query: '{ __typename }' }), { ...json, origin: 'https://evil.example' });
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('CSRF_REJECTED');
  });

  it('sets the session cookies of a login through the route without the router', async () => {
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { email } } }', variables: { e: 'ada@example.com', p: 'correct horse battery staple' } }),
    });
    expect(answer.status).toBe(200);
    const cookies = answer.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThanOrEqual(2);
    for (const cookie of cookies) expect(cookie).toMatch(/HttpOnly/i);
  });
});
