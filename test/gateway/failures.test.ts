import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, DIRECTIVES, send, startUpstream, type TestUpstream } from './support.js';

const BLOG_SDL = `${DIRECTIVES}
type Query { posts: [Post!]! @public }
type Post { id: ID! title: String! }
`;
const BLOG_RESOLVERS = { Query: { posts: () => [{ id: 'b1', title: 'Hello' }] } };

describe('upstream failures', () => {
  let shop: TestUpstream;
  let blog: TestUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    shop = await startUpstream({ service: true, slowMs: 3000 });
    blog = await startUpstream({ service: true, sdl: BLOG_SDL, resolvers: BLOG_RESOLVERS });
    gateway = await startGateway({
      config: testConfig({ UPSTREAMS: `shop=${shop.url},blog=${blog.url}`, ROLES: 'EDITOR', UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_SCHEMA_POLL_SECONDS: '0' }),
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
    await blog?.close();
  });
  beforeEach(() => {
    shop.behaviour = 'ok';
  });

  const described: Record<string, string> = {
    slow: 'times out',
    'stalled-body': 'stalls in the middle of its body',
    'bad-json': 'answers JSON that does not parse',
    'no-data': 'answers JSON with neither data nor errors',
    'cut-off': 'drops the connection in the middle of its body',
  };
  for (const behaviour of ['5xx', 'html', 'slow', 'stalled-body', 'bad-json', 'no-data', 'cut-off'] as const) {
    it(`answers UPSTREAM_UNAVAILABLE at the upstream's fields when it ${described[behaviour] ?? `answers ${behaviour}`}, the rest intact`, async () => {
      shop.behaviour = behaviour;
      const started = performance.now();
      const answer = await send(gateway.url, '{ products { id } product(id: "p1") { name } posts { title } }');
      expect(performance.now() - started).toBeLessThan(2500);
      expect(answer.status).toBe(200);
      // products is non-null: its null takes the whole data away, so the mixed answer keeps posts only when the
      // failing field is nullable (the next query).
      expect(codesByPath(answer)).toMatchObject({ products: 'UPSTREAM_UNAVAILABLE' });

      const nullable = await send(gateway.url, '{ product(id: "p1") { name } posts { title } }');
      expect(nullable.body.data).toEqual({ product: null, posts: [{ title: 'Hello' }] });
      expect(codesByPath(nullable)).toEqual({ product: 'UPSTREAM_UNAVAILABLE' });

      const alone = await send(gateway.url, '{ product(id: "p1") { name } adminReport }');
      expect(alone.body.data).toEqual({ product: null, adminReport: null });
      expect(codesByPath(alone)).toEqual({ product: 'UPSTREAM_UNAVAILABLE', adminReport: 'UNAUTHENTICATED' });
    });
  }

  it('answers UPSTREAM_UNAVAILABLE when the upstream is unreachable, and recovers when it is back', async () => {
    await shop.close();
    try {
      const answer = await send(gateway.url, '{ product(id: "p1") { name } posts { title } }');
      expect(answer.body.data).toEqual({ product: null, posts: [{ title: 'Hello' }] });
      expect(codesByPath(answer)).toEqual({ product: 'UPSTREAM_UNAVAILABLE' });
      const alone = await send(gateway.url, '{ product(id: "p1") { name } }');
      expect(codesByPath(alone)).toEqual({ product: 'UPSTREAM_UNAVAILABLE' });
    } finally {
      await shop.reopen();
    }
    const back = await send(gateway.url, '{ product(id: "p1") { name } }');
    expect(back.body).toEqual({ data: { product: { name: 'Product 1' } } });
  });

  it("keeps an upstream error's path, code and (outside production) message", async () => {
    const answer = await send(gateway.url, '{ products { id } broken }');
    expect(answer.body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }], broken: null });
    expect(answer.body.errors).toEqual([expect.objectContaining({ message: 'stock database on fire', path: ['broken'], extensions: { code: 'SHOP_INTERNAL' } })]);

    // The same through the mixed path (two upstreams stitched).
    const mixed = await send(gateway.url, '{ broken posts { title } }');
    expect(mixed.body.data).toEqual({ broken: null, posts: [{ title: 'Hello' }] });
    expect(mixed.body.errors).toEqual([expect.objectContaining({ message: 'stock database on fire', path: ['broken'], extensions: { code: 'SHOP_INTERNAL' } })]);
  });
});

describe('upstream errors in production', () => {
  let shop: TestUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'production', UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '0' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
  });

  it('replaces upstream messages by a generic one unless the code is in UPSTREAM_ERROR_CODES_PASSED, keeping paths', async () => {
    const answer = await send(gateway.url, '{ broken failing missing }');
    expect(answer.body.data).toEqual({ broken: null, failing: null, missing: null });
    const byPath = Object.fromEntries((answer.body.errors ?? []).map((error) => [String(error.path), error]));
    expect(byPath['broken']).toMatchObject({ extensions: { code: 'SHOP_INTERNAL' } });
    expect(byPath['broken']?.message).not.toContain('fire');
    expect(byPath['failing']).toMatchObject({ extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(byPath['failing']?.message).not.toContain('no such thing');
    expect(byPath['missing']).toMatchObject({ message: 'No such product.', extensions: { code: 'NOT_FOUND' } });
  });

  it('refuses introspection of the composed schema', async () => {
    const answer = await send(gateway.url, '{ __schema { queryType { fields { name } } } }');
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(JSON.stringify(answer.body)).not.toContain('adminReport');
  });
});

describe('hardening limits on upstream fields', () => {
  let shop: TestUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '0' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
  });

  it('refuses too many aliases on upstream fields before anything is sent upstream', async () => {
    shop.reset();
    const aliases = Array.from({ length: 20 }, (_, index) => `a${index}: products { id }`).join(' ');
    const answer = await send(gateway.url, `{ ${aliases} }`);
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(shop.operations()).toHaveLength(0);
  });

  it('refuses a document over the token limit on upstream fields before anything is sent upstream', async () => {
    shop.reset();
    const answer = await send(gateway.url, `{ products { ${'id '.repeat(2100)}} }`);
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_PARSE_FAILED');
    expect(shop.operations()).toHaveLength(0);
  });

  it('lets introspection show upstream fields in development', async () => {
    const answer = await send(gateway.url, '{ __schema { queryType { fields { name } } } }');
    const names = ((answer.body.data?.['__schema'] as { queryType: { fields: Array<{ name: string }> } }).queryType.fields).map((field) => field.name);
    expect(names).toEqual(expect.arrayContaining(['products', 'adminReport', 'me', 'currentSession']));
  });
});
