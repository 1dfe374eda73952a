import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { SHOP_RESOLVERS, signIn, startUpstream, type TestUpstream } from './support.js';

interface RawAnswer {
  readonly status: number;
  /** Every response header but the date and the connection's own. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive']);

async function post(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: Object.fromEntries([...response.headers].filter(([name]) => !PER_CONNECTION.has(name))), body: await response.text() };
}

/**
 * The pass-through is told apart from the general path by what the upstream receives: the client's query text as
 * written (pass-through) or the gateway's printed document (general path).
 */
const ODD_QUERY = 'query  Shop { products { id   name } }   # written by hand';

describe('the pass-through and the general path', () => {
  let shop: TestUpstream;
  let config: Config;
  let fast: TestGateway;
  let general: TestGateway;
  let user: string;
  let editor: string;
  let admin: string;

  beforeAll(async () => {
    // placeOrder fails for a sold-out product: a mutation whose answer carries an error.
    const mutations = SHOP_RESOLVERS['Mutation'] as { placeOrder: (source: unknown, args: { productId: string }) => unknown };
    const resolvers = {
      ...SHOP_RESOLVERS,
      Mutation: {
        ...mutations,
        placeOrder: (source: unknown, args: { productId: string }) => {
          if (args.productId === 'sold-out') throw Object.assign(new Error('sold out'), { extensions: { code: 'SOLD_OUT' } });
          return mutations.placeOrder(source, args);
        },
      },
    };
    shop = await startUpstream({ service: true, resolvers });
    // One config (one database, one key) for both: the same tokens work on each.
    config = testConfig({ NODE_ENV: 'production', UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '0' });
    fast = await startGateway({ config });
    general = await startGateway({ config, app: { generalPathOnly: true } });
    const create = fast.createUser.bind(fast);
    [user, editor, admin] = await Promise.all([
      signIn(fast.url, create, 'user@example.com', ['USER']),
      signIn(fast.url, create, 'editor@example.com', ['EDITOR']),
      signIn(fast.url, create, 'admin@example.com', ['ADMIN']),
    ]);
  });
  afterAll(async () => {
    await fast?.stop();
    await general?.stop();
    await shop?.close();
  });
  beforeEach(() => {
    shop.reset();
  });

  /** Sends the same request to both gateways; returns both answers and the query texts the upstream received from each. */
  async function both(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ fast: RawAnswer; general: RawAnswer; sentByFast: unknown[]; sentByGeneral: unknown[] }> {
    shop.reset();
    const fastAnswer = await post(fast.url, body, headers);
    const sentByFast = shop.operations().map((request) => request.body['query']);
    shop.reset();
    const generalAnswer = await post(general.url, body, headers);
    const sentByGeneral = shop.operations().map((request) => request.body['query']);
    return { fast: fastAnswer, general: generalAnswer, sentByFast, sentByGeneral };
  }

  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

  it.each<[string, Record<string, unknown>, () => Record<string, string>]>([
    ['a guest query of public fields', { query: ODD_QUERY }, () => ({})],
    ['the same with operationName', { query: ODD_QUERY, operationName: 'Shop' }, () => ({})],
    ['a signed-in query with variables, aliases and fragments', { query: 'query One($id: ID!) { first: product(id: $id) { ...P } myOrders { id total } } fragment P on Product { id price reviews { text } }', variables: { id: 'p2' } }, () => bearer(user)],
    ['a role holder reading a guarded field', { query: '{ editorNote __typename products { __typename id } }' }, () => bearer(editor)],
    ['a union and an interface', { query: '{ search(term: "x") { __typename ... on Product { name } ... on Review { text } } }' }, () => bearer(admin)],
    ['a mutation', { query: 'mutation { placeOrder(productId: "p1") { id total } }' }, () => bearer(user)],
    ['variables the operation does not declare', { query: 'query($id: ID!) { product(id: $id) { name } }', variables: { id: 'p1', extra: 'dropped' } }, () => ({})],
    ['Accept: application/graphql-response+json', { query: '{ products { id } }' }, () => ({ accept: 'application/graphql-response+json' })],
  ])('gives byte-identical answers, status and headers for %s, passing the query through as written', async (_name, body, headers) => {
    const answers = await both(body, headers());
    expect(answers.fast).toEqual(answers.general);
    expect(answers.fast.status).toBe(200);
    expect(answers.fast.headers).toMatchObject({ 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
    expect(JSON.parse(answers.fast.body)).not.toHaveProperty('errors');
    expect(answers.sentByFast).toEqual([body['query']]);
    expect(answers.sentByGeneral).toHaveLength(1);
    expect(answers.sentByGeneral).not.toEqual([body['query']]);
  });

  it.each<[string, Record<string, unknown>, () => Record<string, string>]>([
    ['a health check, { __typename }', { query: '{ __typename }' }, () => ({})],
    ['a named one with aliases', { query: 'query Health { a: __typename b: __typename }', operationName: 'Health' }, () => ({})],
    ['a guest reading the public sign-in providers', { query: '{ signInProviders { name label } }' }, () => ({})],
    ['a signed-in query of own fields', { query: '{ me { email roles } currentSession { id roles } __typename }' }, () => bearer(user)],
    ['an administrator with variables', { query: 'query Users($limit: Int!) { users(limit: $limit) { email } }', variables: { limit: 5 } }, () => bearer(admin)],
  ])('gives byte-identical answers, status and headers for a query of the gateway\'s own fields: %s', async (_name, body, headers) => {
    const answers = await both(body, headers());
    expect(answers.fast).toEqual(answers.general);
    expect(answers.fast.status).toBe(200);
    expect(answers.fast.headers).toMatchObject({ 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
    expect(JSON.parse(answers.fast.body)).not.toHaveProperty('errors');
    expect(answers.sentByFast).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, () => Record<string, string>, string]>([
    ['a guest asking for the current session', { query: '{ currentSession { id } }' }, () => ({}), 'UNAUTHENTICATED'],
    ['a variable that does not coerce', { query: 'query Users($limit: Int!) { users(limit: $limit) { email } }', variables: { limit: 'many' } }, () => bearer(admin), 'BAD_USER_INPUT'],
    ['an expired-looking token', { query: '{ me { email } }' }, () => bearer(`${user.slice(0, -4)}AAAA`), 'UNAUTHENTICATED'],
  ])('answers errors in own queries exactly like the general path: %s', async (_name, body, headers, code) => {
    const answers = await both(body, headers());
    expect(answers.fast).toEqual(answers.general);
    const errors = JSON.parse(answers.fast.body).errors as Array<{ extensions: { code: string } }>;
    expect(errors.map((error) => error.extensions.code)).toContain(code);
  });

  it("runs the resolvers of an own query whose answer has an error exactly once", async () => {
    // `me` reads the user; `users` is FORBIDDEN to a USER. The answer needs Apollo's formatting, which must take
    // the result already computed rather than run `me` (and its read) again.
    const query = { query: '{ me { email } users { email } }' };
    const readsOfUsers = async (gateway: TestGateway): Promise<{ reads: number; answer: RawAnswer }> => {
      const client = gateway.app.database.connection.getClient();
      let reads = 0;
      const onStart = (event: { commandName: string; command: Record<string, unknown> }): void => {
        if (event.commandName === 'find' && event.command['find'] === 'users') reads++;
      };
      client.on('commandStarted', onStart);
      try {
        return { answer: await post(gateway.url, query, bearer(user)), reads };
      } finally {
        client.off('commandStarted', onStart);
      }
    };
    const onGeneral = await readsOfUsers(general);
    const onFast = await readsOfUsers(fast);
    expect(onFast.answer).toEqual(onGeneral.answer);
    expect(JSON.parse(onFast.answer.body).errors.map((error: { extensions: { code: string } }) => error.extensions.code)).toEqual(['FORBIDDEN']);
    expect(onGeneral.reads).toBeGreaterThan(0);
    expect(onFast.reads).toBe(onGeneral.reads);
  });

  it('answers introspection of the composed schema alike on both paths', async () => {
    const introspection = await both({ query: '{ __schema { queryType { name } } }' });
    expect(introspection.fast).toEqual(introspection.general);
  });

  it('keeps an operation name and query text apart: no pair is taken for another whose plan was cached', async () => {
    // graphql-js lets a comment hold a NUL. Cached: operation "A" of a query whose comment ends in "\0{ adminReport }".
    const cached = await post(fast.url, { query: 'query A { products { id } } #\u0000{ adminReport }', operationName: 'A' });
    expect(cached.status).toBe(200);
    // The same characters split at the other NUL: name "A\0query A { products { id } } #", query "{ adminReport }".
    const answers = await both({ query: '{ adminReport }', operationName: 'A\u0000query A { products { id } } #' });
    expect(answers.fast).toEqual(answers.general);
    expect(answers.fast.status).toBeGreaterThanOrEqual(400);
    expect(answers.sentByFast).toEqual([]);
  });

  it('sends upstream only the variables the operation declares', async () => {
    await post(fast.url, { query: 'query($id: ID!) { product(id: $id) { name } }', variables: { id: 'p1', extra: 'secret' } });
    expect(shop.operations().map((request) => request.body['variables'])).toEqual([{ id: 'p1' }]);
  });

  it('sends a denied field through the general path: pruned upstream, the same answer with its error', async () => {
    const answers = await both({ query: '{ products { id cost } adminReport }' }, bearer(user));
    expect(answers.fast).toEqual(answers.general);
    const codes = new Set(JSON.parse(answers.fast.body).errors.map((error: { extensions: { code: string } }) => error.extensions.code));
    expect([...codes]).toEqual(['FORBIDDEN']);
    expect(answers.sentByFast).toEqual(answers.sentByGeneral);
    expect(String(answers.sentByFast[0])).not.toContain('cost');
  });

  it('formats an upstream error on the general path, masked in production, calling the upstream once', async () => {
    const answers = await both({ query: '{ broken failing missing products { id } }' });
    expect(answers.fast).toEqual(answers.general);
    // The pass-through made the call (the text as written), then handed its answer over instead of calling again.
    expect(answers.sentByFast).toEqual(['{ broken failing missing products { id } }']);
    const errors = JSON.parse(answers.fast.body).errors as Array<{ message: string; extensions: { code: string } }>;
    expect(errors.map((error) => error.extensions.code).sort()).toEqual(['INTERNAL_SERVER_ERROR', 'NOT_FOUND', 'SHOP_INTERNAL']);
    expect(answers.fast.body).not.toContain('fire');
    expect(answers.fast.body).not.toContain('no such thing');
    expect(answers.fast.body).toContain('No such product.');
  });

  it('runs a mutation whose answer has an error exactly once', async () => {
    const before = shop.count('Mutation.placeOrder');
    const answer = await post(fast.url, { query: 'mutation { placeOrder(productId: "p1") { id } soldOut: placeOrder(productId: "sold-out") { id } }' }, bearer(user));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ data: null, errors: [{ path: ['soldOut'], extensions: { code: 'SOLD_OUT' } }] });
    expect(shop.count('Mutation.placeOrder') - before).toBe(2);
    expect(shop.operations()).toHaveLength(1);
  });

  it('answers an upstream failure UPSTREAM_UNAVAILABLE like the general path', async () => {
    shop.behaviour = 'bad-json';
    try {
      const answers = await both({ query: '{ product(id: "p1") { name } }' });
      expect(answers.fast).toEqual(answers.general);
      expect(JSON.parse(answers.fast.body).errors[0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    } finally {
      shop.behaviour = 'ok';
    }
  });

  it('never forwards introspection, even beside an upstream field', async () => {
    const answers = await both({ query: '{ products { id } __type(name: "Product") { name } }' });
    expect(answers.fast).toEqual(answers.general);
    expect(answers.sentByFast).toEqual(answers.sentByGeneral);
    expect(answers.fast.body).not.toContain('"__type":{');
  });

  it('refuses what Apollo refuses: over a limit, invalid, with extensions, cross-site', async () => {
    const deep = `{ products { reviews { id } ${'__typename '.repeat(1)} } }`;
    const cases: Array<[Record<string, unknown>, Record<string, string>]> = [
      [{ query: `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: products { id }`).join(' ')} }` }, {}],
      [{ query: '{ products { nope } }' }, {}],
      [{ query: '{ products { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } }, {}],
      [{ query: deep, variables: 'not an object' }, {}],
      [{ query: '{ products { id } }' }, { origin: 'https://evil.example' }],
    ];
    for (const [body, headers] of cases) {
      const answers = await both(body, headers);
      expect(answers.fast).toEqual(answers.general);
      expect(answers.fast.status).toBeGreaterThanOrEqual(400);
      expect(answers.sentByFast).toEqual([]);
    }
    // Apollo runs the operation and then refuses the Accept header (406): the pass-through leaves that to it.
    const unacceptable = await both({ query: '{ products { id } }' }, { accept: 'text/html' });
    expect(unacceptable.fast).toEqual(unacceptable.general);
    expect(unacceptable.fast.status).toBe(406);
  });
});

describe('in-flight de-duplication', () => {
  let shop: TestUpstream;
  let gateway: TestGateway;
  let general: TestGateway;
  let off: TestGateway;
  let ada: string;
  let bob: string;

  beforeAll(async () => {
    // Every operation waits 300 ms upstream, so concurrent requests are in flight together.
    shop = await startUpstream({ service: true, slowMs: 300 });
    const config = testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '0' });
    gateway = await startGateway({ config });
    general = await startGateway({ config, app: { generalPathOnly: true } });
    off = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '0', UPSTREAM_DEDUPLICATE: 'false' }) });
    const create = gateway.createUser.bind(gateway);
    [ada, bob] = await Promise.all([signIn(gateway.url, create, 'ada@example.com', ['USER']), signIn(gateway.url, create, 'bob@example.com', ['USER'])]);
    shop.behaviour = 'slow';
  });
  afterAll(async () => {
    await gateway?.stop();
    await general?.stop();
    await off?.stop();
    await shop?.close();
  });
  beforeEach(() => {
    shop.reset();
  });

  const at = (url: string, body: Record<string, unknown>, token?: string): Promise<RawAnswer> => post(url, body, token ? { authorization: `Bearer ${token}` } : {});

  it.each([
    ['the pass-through', () => gateway],
    ['the general path', () => general],
  ])('makes one upstream call for identical concurrent guest queries (%s), and every guest gets the answer', async (_name, which) => {
    const answers = await Promise.all(Array.from({ length: 5 }, () => at(which().url, { query: '{ products { id name } }' })));
    expect(shop.operations()).toHaveLength(1);
    expect(shop.count('Query.products')).toBe(1);
    for (const answer of answers) expect(JSON.parse(answer.body).data.products).toHaveLength(3);
  });

  it('makes one call per user for two users sending the same query at once, each with its own identity token', async () => {
    const answers = await Promise.all([ada, bob, ada, bob].map((token) => at(gateway.url, { query: '{ myOrders { id } }' }, token)));
    for (const answer of answers) expect(JSON.parse(answer.body).data.myOrders).toHaveLength(1);
    const calls = shop.operations();
    expect(calls).toHaveLength(2);
    const identities = calls.map((call) => call.headers.authorization);
    expect(new Set(identities).size).toBe(2);
    const subjects = identities.map((header) => JSON.parse(Buffer.from(String(header).split('.')[1] ?? '', 'base64url').toString()).sub as string);
    expect(new Set(subjects).size).toBe(2);
  });

  it('never merges mutations', async () => {
    await Promise.all(Array.from({ length: 3 }, () => at(gateway.url, { query: 'mutation { placeOrder(productId: "p1") { id } }' }, ada)));
    expect(shop.count('Mutation.placeOrder')).toBe(3);
    expect(shop.operations()).toHaveLength(3);
  });

  it('never merges a guest with a signed-in user', async () => {
    await Promise.all([at(gateway.url, { query: '{ products { id } }' }), at(gateway.url, { query: '{ products { id } }' }, ada)]);
    expect(shop.operations()).toHaveLength(2);
  });

  it('makes every call with UPSTREAM_DEDUPLICATE=false', async () => {
    await Promise.all(Array.from({ length: 3 }, () => at(off.url, { query: '{ products { id name } }' })));
    expect(shop.operations()).toHaveLength(3);
  });

  it('shares nothing once the first call has answered', async () => {
    await at(gateway.url, { query: '{ products { id } }' });
    await at(gateway.url, { query: '{ products { id } }' });
    expect(shop.operations()).toHaveLength(2);
  });
});
