import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, publicMessage } from '../../src/errors.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL, raw, type RawResponse } from './support.js';

const INTROSPECTION = '{ __schema { queryType { name } types { name } } }';
/** The only extension names a client may ever see (src/graphql/format-error.ts). */
const PUBLIC_EXTENSIONS = new Set(['code', 'reason', 'field', 'retryAfterSeconds']);

const SUGGESTION_PROBES: Array<[string, { query: string; variables?: Record<string, unknown> }]> = [
  ['a misspelt field', { query: '{ mee { id } }' }],
  ['a misspelt field of an object type', { query: '{ me { emial } }' }],
  ['a misspelt argument', { query: '{ users(limt: 5) { id } }' }],
  ['a misspelt type condition', { query: '{ ... on Querry { __typename } }' }],
  ['a misspelt mutation', { query: 'mutation { logot }' }],
  ['a misspelt enum literal', { query: 'mutation { login(email: "a@b.c", password: "x", delivery: BODDY) { accessTokenExpiresAt } }' }],
  [
    'a misspelt enum in a variable',
    { query: 'mutation($d: TokenDelivery) { login(email: "a@b.c", password: "x", delivery: $d) { accessTokenExpiresAt } }', variables: { d: 'BODDY' } },
  ],
];

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      into.push(key);
      keysOf(child, into);
    }
  }
  return into;
}

function expectNoInternals(response: RawResponse): void {
  const keys = keysOf(response.json);
  expect(keys).not.toContain('stacktrace');
  expect(keys).not.toContain('exception');
  expect(keys).not.toContain('stack');
  for (const error of response.json?.errors ?? []) {
    for (const name of Object.keys(error.extensions ?? {})) expect(PUBLIC_EXTENSIONS.has(name)).toBe(true);
  }
  // No stack frame, file path or driver name in any message.
  expect(response.text).not.toMatch(/\n\s+at |node_modules|\/src\/|\.ts:\d|Mongo|mongoose/);
}

describe('production mode', () => {
  let production: TestGateway;
  let development: TestGateway;

  beforeAll(async () => {
    [production, development] = await Promise.all([startGateway({ config: testConfig({ NODE_ENV: 'production' }) }), startGateway()]);
    await production.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await Promise.all([production?.stop(), development?.stop()]);
  });

  describe('introspection', () => {
    it.each([
      ['__schema', INTROSPECTION],
      ['__type', '{ __type(name: "User") { fields { name } } }'],
      ['an aliased __schema', '{ s: __schema { types { name } } }'],
      ['__schema inside a fragment', '{ ...F } fragment F on Query { __schema { types { name } } }'],
    ])('refuses %s with GRAPHQL_VALIDATION_FAILED and no data', async (_name, query) => {
      const response = await postGraphQL(production.url, { query });
      expect(response.status).toBe(400);
      expect(firstCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.json?.data).toBeUndefined();
      // Control: outside production the same query is answered.
      expect((await postGraphQL(development.url, { query })).json?.errors).toBeUndefined();
    });

    it('still answers __typename (needed by clients, says nothing about the schema)', async () => {
      expect((await postGraphQL(production.url, { query: '{ __typename }' })).json?.data).toEqual({ __typename: 'Query' });
    });

    it('turns introspection back on with INTROSPECTION_ENABLED=true, and keeps hiding suggestions', async () => {
      const gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production', INTROSPECTION_ENABLED: 'true' }) });
      try {
        const response = await postGraphQL(gateway.url, { query: INTROSPECTION });
        expect(response.json?.errors).toBeUndefined();
        expect((response.json?.data as { __schema: { queryType: { name: string } } }).__schema.queryType.name).toBe('Query');
        expect((await postGraphQL(gateway.url, { query: '{ mee { id } }' })).text).not.toMatch(/did you mean/i);
      } finally {
        await gateway.stop();
      }
    });
  });

  describe('suggestions', () => {
    it.each(SUGGESTION_PROBES)('gives no "Did you mean" for %s', async (_name, body) => {
      const response = await postGraphQL(production.url, body);
      expect(response.status).toBe(400);
      expect(['GRAPHQL_VALIDATION_FAILED', ErrorCode.BAD_USER_INPUT]).toContain(firstCode(response));
      expect(response.text).not.toMatch(/did you mean/i);
      // Nor does it list the schema's names in another form.
      expect(response.text).not.toMatch(/"BODY"|\bCOOKIE\b|\bemail\b.*\bpassword\b.*\bdelivery\b/);
      expectNoInternals(response);
    });

    it('does suggest outside production (control: the probes above do trigger suggestions)', async () => {
      expect((await postGraphQL(development.url, { query: '{ mee { id } }' })).text).toMatch(/did you mean/i);
    });
  });

  it('shows no stack trace, exception or internal extension on any kind of error response', async () => {
    const responses = [
      await postGraphQL(production.url, { query: '{' }),
      await postGraphQL(production.url, { query: '{ nope }' }),
      await postGraphQL(production.url, { query: '{ me { id } }' }),
      await postGraphQL(production.url, { query: '{ me { id } }' }, { authorization: 'Bearer a.b.c' }),
      await postGraphQL(production.url, { query: LOGIN, variables: { email: 'ada@example.com', password: 'wrong password!' } }),
      await postGraphQL(production.url, { query: LOGIN, variables: { email: 'not-an-email', password: 'x' } }),
      await postGraphQL(production.url, { query: LOGIN, variables: { email: 42 } }),
      await postGraphQL(production.url, { query: 'mutation { refresh(refreshToken: "forged") { accessTokenExpiresAt } }' }),
      await postGraphQL(production.url, { query: '{ me { id } }' }, {}, '/graphql/auth'),
      await postGraphQL(production.url, { query: '{ __typename }', variables: { pad: 'x'.repeat(70_000) } }),
      await raw(production.url, { headers: { 'content-type': 'application/json' }, body: '{"query":' }),
      await raw(production.url, { headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ query: '{ __typename }' }]) }),
      await raw(production.url, { method: 'GET', path: '/graphql?query=%7B__typename%7D' }),
      await raw(production.url, { method: 'GET', path: '/nope' }),
    ];
    for (const response of responses) {
      expect(response.json?.errors?.length).toBeGreaterThan(0);
      expectNoInternals(response);
    }
  });
});

describe('production mode with the database gone', () => {
  let gateway: TestGateway;
  let accessToken: string;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production' }) });
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    const login = await postGraphQL(gateway.url, {
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken } }',
      variables: { e: 'ada@example.com', p: PASSWORD },
    });
    accessToken = (login.json?.data as { login: { accessToken: string } }).login.accessToken;
    await gateway.app.database.connection.dropDatabase();
    await gateway.app.database.connection.close();
  });
  afterAll(async () => {
    await gateway?.app.stop();
  });

  it('answers a field that needs the database as SERVICE_UNAVAILABLE (503, Retry-After) with the public message and nothing else', async () => {
    const response = await postGraphQL(gateway.url, { query: '{ me { id email } }' }, { authorization: `Bearer ${accessToken}` });
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toMatch(/^\d+$/);
    expect(response.json?.data).toBeNull();
    expect(response.json?.errors).toHaveLength(1);
    const [error] = response.json?.errors ?? [];
    expect(error?.extensions).toEqual({ code: ErrorCode.SERVICE_UNAVAILABLE });
    expect(error?.message).toBe(publicMessage(ErrorCode.SERVICE_UNAVAILABLE));
    expectNoInternals(response);

    // The token itself is fine: a field that needs no database still answers (so the failure above was the resolver's).
    const session = await postGraphQL(gateway.url, { query: '{ currentSession { id } }' }, { authorization: `Bearer ${accessToken}` });
    expect(session.json?.errors).toBeUndefined();
  });
});

describe('production mode with a record the code does not expect', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('masks a resolver failure (me with a valid token) as INTERNAL_SERVER_ERROR with the public message and nothing else', async () => {
    await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    const login = await postGraphQL(gateway.url, {
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken } }',
      variables: { e: 'ada@example.com', p: PASSWORD },
    });
    const accessToken = (login.json?.data as { login: { accessToken: string } }).login.accessToken;
    // A bug's worth of data: an email that is not a string.
    await gateway.app.database.connection.db!.collection('users').updateOne({ email: 'ada@example.com' }, { $set: { email: { not: 'a string' } } });

    const response = await postGraphQL(gateway.url, { query: '{ me { id email } }' }, { authorization: `Bearer ${accessToken}` });
    expect(response.status).toBe(200);
    expect(response.json?.data).toBeNull();
    expect(response.json?.errors).toHaveLength(1);
    const [error] = response.json?.errors ?? [];
    expect(error?.extensions).toEqual({ code: ErrorCode.INTERNAL_SERVER_ERROR });
    expect(error?.message).toBe(publicMessage(ErrorCode.INTERNAL_SERVER_ERROR));
    expectNoInternals(response);
  });
});
