import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { LoginDocument } from '../generated/operations.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

type ErrorBody = { errors: Array<{ extensions: { code: string } }> };

describe('HTTP transport', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers /healthz while the process is up', async () => {
    const response = await fetch(`${gateway.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 while the database is reachable', async () => {
    const response = await fetch(`${gateway.url}/readyz`);
    expect(response.status).toBe(200);
  });

  it('refuses a body that is not JSON with 400 BAD_REQUEST, without echoing it', async () => {
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "password123' });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text).errors[0]?.extensions.code).toBe(ErrorCode.BAD_REQUEST);
    expect(text).not.toContain('password123');
  });

  it('refuses an oversized body with 413 PAYLOAD_TOO_LARGE before parsing it', async () => {
    const body = JSON.stringify({ query: `{ __typename }`, variables: { padding: 'x'.repeat(200_000) } });
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(413);
    expect(((await response.json()) as ErrorBody).errors[0]?.extensions.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
  });

  it('refuses a text/plain POST (a CSRF-shaped request) before execution', async () => {
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"query":"{ __typename }"}' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).errors[0]?.extensions.code).toBe(ErrorCode.BAD_REQUEST);
  });

  it('marks GraphQL answers no-store and nosniff', async () => {
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('supports the specified directives @include and @skip', async () => {
    const body = JSON.stringify({ query: '{ a: __typename @include(if: true) b: __typename @skip(if: true) }' });
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(await response.json()).toEqual({ data: { a: 'Query' } });
  });

  it('answers an unknown path with 404 NOT_FOUND', async () => {
    const response = await fetch(`${gateway.url}/nope`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as ErrorBody).errors[0]?.extensions.code).toBe(ErrorCode.NOT_FOUND);
  });
});

describe('when the database goes away', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
    await gateway.createUser({ email: 'ada@example.com', password: 'correct horse battery staple' });
    await gateway.app.database.connection.dropDatabase();
    await gateway.app.database.connection.close();
  });
  afterAll(async () => {
    await gateway?.app.stop();
  });

  it('answers /readyz with 503', async () => {
    const response = await fetch(`${gateway.url}/readyz`);
    expect(response.status).toBe(503);
  });

  it('answers login as SERVICE_UNAVAILABLE with HTTP 503, Retry-After and no internals', async () => {
    const response = await gateway.request(LoginDocument, { email: 'ada@example.com', password: 'correct horse battery staple' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    const error = response.body.errors?.[0];
    expect(error?.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE });
    expect(error?.message).toBe('The service is temporarily unavailable. Try again shortly.');
    expect(JSON.stringify(response.body)).not.toMatch(/mongo|stack|at \w+ \(/i);
  });
});
