import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ConfigError } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, DIRECTIVES, eventually, send, SHOP_SDL, signIn, startUpstream, type TestUpstream } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-authz-'));
function sdlFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Every test of this file signs in its own users on its own gateway. */
async function users(gateway: TestGateway, prefix: string): Promise<{ user: string; admin: string }> {
  const create = gateway.createUser.bind(gateway);
  const [user, admin] = await Promise.all([
    signIn(gateway.url, create, `${prefix}-user@example.com`, ['USER']),
    signIn(gateway.url, create, `${prefix}-admin@example.com`, ['ADMIN']),
  ]);
  return { user, admin };
}

describe('a rule on a root type covers its own upstream\'s root fields only', () => {
  const ADMIN_SDL = `${DIRECTIVES}
type Query @authorized(roles: ["ADMIN"]) { purgeCache: Boolean }
`;
  /** The shop with a rule on its whole Query: any signed-in user. */
  const SIGNED_IN_SHOP_SDL = SHOP_SDL.replace('type Query {', 'type Query @authorized {');
  let admin: TestUpstream;
  let shop: TestUpstream;
  const gateways: Record<string, TestGateway> = {};
  const tokens: Record<string, { user: string; admin: string }> = {};

  beforeAll(async () => {
    admin = await startUpstream({ service: true, sdl: ADMIN_SDL, resolvers: { Query: { purgeCache: () => true } } });
    shop = await startUpstream({ service: true, sdl: SIGNED_IN_SHOP_SDL });
    // Both orders: before the fix, whichever upstream came last set the rule of the one composed Query.
    for (const [order, upstreams] of [
      ['admin,shop', `admin=${admin.url},shop=${shop.url}`],
      ['shop,admin', `shop=${shop.url},admin=${admin.url}`],
    ] as const) {
      gateways[order] = await startGateway({ config: testConfig({ ROLES: 'EDITOR', UPSTREAMS: upstreams }) });
      tokens[order] = await users(gateways[order]!, order.replace(',', '-'));
    }
  });
  afterAll(async () => {
    for (const gateway of Object.values(gateways)) await gateway.stop();
    await admin?.close();
    await shop?.close();
  });
  beforeEach(() => {
    admin.reset();
    shop.reset();
  });

  it.each(['admin,shop', 'shop,admin'])('answers a USER FORBIDDEN on the admin upstream\'s purgeCache, which never runs (UPSTREAMS=%s)', async (order) => {
    const answer = await send(gateways[order]!.url, '{ purgeCache }', { token: tokens[order]!.user });
    expect(codesByPath(answer)).toEqual({ purgeCache: 'FORBIDDEN' });
    expect(admin.count('Query.purgeCache')).toBe(0);
    expect(admin.operations()).toHaveLength(0);
  });

  it.each(['admin,shop', 'shop,admin'])('still serves the shop\'s root fields to a USER and purgeCache to an ADMIN (UPSTREAMS=%s)', async (order) => {
    const answer = await send(gateways[order]!.url, '{ products { id } }', { token: tokens[order]!.user });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }] });
    expect((await send(gateways[order]!.url, '{ purgeCache }', { token: tokens[order]!.admin })).body.data).toEqual({ purgeCache: true });
    // The shop's own rule still holds for its fields: a guest must sign in, even for its @public ones.
    expect(codesByPath(await send(gateways[order]!.url, '{ products { id } }'))).toEqual({ products: 'UNAUTHENTICATED' });
  });
});

describe('renamed root types keep their rules', () => {
  const RENAMED_SDL = `${DIRECTIVES}
schema { query: RootQuery mutation: mutation_root }
type RootQuery {
  report: String @authorized(roles: ["ADMIN"])
  open: String @public
}
type mutation_root @authorized(roles: ["ADMIN"]) {
  purge: Boolean
}
`;
  let hasura: TestUpstream;
  let gateway: TestGateway;
  let tokens: { user: string; admin: string };

  beforeAll(async () => {
    hasura = await startUpstream({
      sdl: RENAMED_SDL,
      resolvers: { RootQuery: { report: () => 'quarterly', open: () => 'hello' }, mutation_root: { purge: () => true } },
    });
    gateway = await startGateway({ config: testConfig({ ROLES: 'EDITOR', UPSTREAMS: `hasura=${hasura.url}`, UPSTREAM_SCHEMA_HASURA: sdlFile('hasura.graphql', RENAMED_SDL) }) });
    tokens = await users(gateway, 'renamed');
  });
  afterAll(async () => {
    await gateway?.stop();
    await hasura?.close();
  });
  beforeEach(() => hasura.reset());

  it('answers a USER FORBIDDEN on a field-level role rule of `RootQuery`, and a guest its @public field', async () => {
    expect(codesByPath(await send(gateway.url, '{ report }', { token: tokens.user }))).toEqual({ report: 'FORBIDDEN' });
    expect(hasura.count('RootQuery.report')).toBe(0);
    const open = await send(gateway.url, '{ open }');
    expect(open.body.errors).toBeUndefined();
    expect(open.body.data).toEqual({ open: 'hello' });
    expect((await send(gateway.url, '{ report }', { token: tokens.admin })).body.data).toEqual({ report: 'quarterly' });
  });

  it('obeys a type-level rule on a renamed mutation root', async () => {
    expect(codesByPath(await send(gateway.url, 'mutation { purge }', { token: tokens.user }))).toEqual({ purge: 'FORBIDDEN' });
    expect(hasura.count('mutation_root.purge')).toBe(0);
    expect((await send(gateway.url, 'mutation { purge }', { token: tokens.admin })).body.data).toEqual({ purge: true });
  });
});

describe('an ordinary type named like a composed root', () => {
  const ADMIN_SDL = `${DIRECTIVES}
type Query { secret: String @authorized(roles: ["ADMIN"]) }
`;
  /** Renames its query root, then defines an ordinary type named Query whose field carries the same name as admin's root field. */
  const EVIL_SDL = `${DIRECTIVES}
schema { query: RootQuery }
type RootQuery { account: Query @public }
type Query { secret: String @public }
`;

  it("refuses the start, so an upstream's ordinary type cannot put its rules on another upstream's root fields", async () => {
    const admin = await startUpstream({ sdl: ADMIN_SDL, resolvers: { Query: { secret: () => 'the admin secret' } } });
    const evil = await startUpstream({ sdl: EVIL_SDL, resolvers: { RootQuery: { account: () => ({ secret: 'evil' }) } } });
    try {
      const config = testConfig({
        UPSTREAMS: `admin=${admin.url},evil=${evil.url}`,
        UPSTREAM_SCHEMA_ADMIN: sdlFile('admin-root.graphql', ADMIN_SDL),
        UPSTREAM_SCHEMA_EVIL: sdlFile('evil-root.graphql', EVIL_SDL),
      });
      const started = await createApp(config, createLogger('silent')).catch((caught: unknown) => caught);
      if (!(started instanceof ConfigError)) {
        // What the refusal prevents: a guest reads the ADMIN-only root field through the other upstream's rule.
        const gateway = await startGateway({ config });
        try {
          const answer = await send(gateway.url, '{ secret }');
          expect.fail(`the start was not refused; a guest asking { secret } got ${JSON.stringify(answer.body)}`);
        } finally {
          await gateway.stop();
          await (started as { stop(): Promise<void> }).stop?.();
        }
      }
      expect(started).toBeInstanceOf(ConfigError);
      const problems = (started as ConfigError).problems;
      expect(problems.some((problem) => /Upstream "evil"/.test(problem) && /type Query/.test(problem))).toBe(true);
      expect(admin.count('Query.secret')).toBe(0);
    } finally {
      await admin.close();
      await evil.close();
    }
  });
});

describe('a type two upstreams share', () => {
  const A_SDL = `${DIRECTIVES}
type Query { product: Product @public }
type Product { id: ID! cost: Float @authorized(roles: ["ADMIN"]) }
`;
  /** The same type with a looser rule on its field: the rules are part of the definition compared. */
  const B_SDL = `${DIRECTIVES}
type Query { other: Product @public }
type Product { id: ID! cost: Float @public }
`;

  it.each(['a,b', 'b,a'])("refuses the start when their rules differ, so one upstream's rule cannot loosen another's (UPSTREAMS=%s)", async (order) => {
    const a = await startUpstream({ sdl: A_SDL, resolvers: { Query: { product: () => ({ id: 'p1', cost: 42 }) } } });
    const b = await startUpstream({ sdl: B_SDL, resolvers: { Query: { other: () => ({ id: 'p2', cost: 1 }) } } });
    try {
      const urls: Record<string, string> = { a: a.url, b: b.url };
      const config = testConfig({
        UPSTREAMS: order.split(',').map((name) => `${name}=${urls[name]}`).join(','),
        UPSTREAM_SCHEMA_A: sdlFile('shared-a.graphql', A_SDL),
        UPSTREAM_SCHEMA_B: sdlFile('shared-b.graphql', B_SDL),
      });
      const started = await createApp(config, createLogger('silent')).catch((caught: unknown) => caught);
      if (!(started instanceof ConfigError)) {
        await (started as { stop(): Promise<void> }).stop();
        const gateway = await startGateway({ config });
        try {
          const answer = await send(gateway.url, '{ product { id cost } }');
          expect.fail(`the start was not refused; a guest asking for the product's cost got ${JSON.stringify(answer.body)}`);
        } finally {
          await gateway.stop();
        }
      }
      expect(started).toBeInstanceOf(ConfigError);
      expect((started as ConfigError).problems.some((problem) => problem.includes('type Product is defined differently'))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('starts when both carry the same rules', async () => {
    const same = B_SDL.replace('cost: Float @public', 'cost: Float @authorized(roles: ["ADMIN"])');
    const a = await startUpstream({ sdl: A_SDL, resolvers: { Query: { product: () => ({ id: 'p1', cost: 42 }) } } });
    const b = await startUpstream({ sdl: same, resolvers: { Query: { other: () => ({ id: 'p2', cost: 1 }) } } });
    try {
      const gateway = await startGateway({
        config: testConfig({ UPSTREAMS: `a=${a.url},b=${b.url}`, UPSTREAM_SCHEMA_A: sdlFile('same-a.graphql', A_SDL), UPSTREAM_SCHEMA_B: sdlFile('same-b.graphql', same) }),
      });
      try {
        expect(codesByPath(await send(gateway.url, '{ product { id cost } }'))).toEqual({ 'product.cost': 'UNAUTHENTICATED' });
      } finally {
        await gateway.stop();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('introspection and bad variables, answered by the gateway', () => {
  /** What the upstream really serves: more than the operator chose to expose in UPSTREAM_SCHEMA_SHOP. */
  const REAL_SDL = `${SHOP_SDL}
type InternalAudit { id: ID! secret: String }
extend type Query { audit: InternalAudit @public }
`;
  let shop: TestUpstream;
  let gateway: TestGateway;
  const lines: string[] = [];

  beforeAll(async () => {
    shop = await startUpstream({ sdl: REAL_SDL });
    const logger = createLogger('info', { stream: { write: (line: string) => void lines.push(line) } });
    gateway = await startGateway({ config: testConfig({ ROLES: 'EDITOR', UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_SHOP: sdlFile('shop.graphql', SHOP_SDL) }), logger });
    // The capture sees what the gateway's logger writes, error level included.
    logger.error('probe');
    expect(lines.some((line) => line.includes('"level":50') && line.includes('probe'))).toBe(true);
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
  });
  beforeEach(() => {
    shop.reset();
    lines.length = 0;
  });
  const introspectionSent = (): boolean => shop.requests.some((request) => /__schema|__type\b/.test(String(request.body['query'])));

  it('answers __schema beside an upstream field from the composed schema, never from the upstream', async () => {
    const answer = await send(gateway.url, '{ __schema { types { name } } products { id } }');
    expect(answer.body.errors).toBeUndefined();
    const names = (answer.body.data?.['__schema'] as { types: { name: string }[] }).types.map((type) => type.name);
    expect(names).toContain('Product');
    expect(names).not.toContain('InternalAudit');
    expect(answer.body.data?.['products']).toEqual([{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }]);
    expect(shop.count('Query.products')).toBe(1);
    expect(introspectionSent()).toBe(false);
  });

  it('answers __type through a fragment beside an upstream field locally too', async () => {
    const answer = await send(gateway.url, '{ ...Meta products { id } } fragment Meta on Query { __type(name: "InternalAudit") { name } }');
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.['__type']).toBeNull();
    expect(introspectionSent()).toBe(false);
  });

  it('answers __schema beside the gateway\'s own fields from the composed schema, upstream fields included', async () => {
    const token = await signIn(gateway.url, gateway.createUser.bind(gateway), 'introspection@example.com', ['USER']);
    const answer = await send(gateway.url, '{ __schema { queryType { fields { name } } } me { email } }', { token });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.['me']).toEqual({ email: 'introspection@example.com' });
    const fields = (answer.body.data?.['__schema'] as { queryType: { fields: { name: string }[] } }).queryType.fields.map((field) => field.name);
    expect(fields).toEqual(expect.arrayContaining(['me', 'products']));
    expect(fields).not.toContain('audit');
  });

  it('answers BAD_USER_INPUT without calling the upstream when some fields are denied and a variable does not coerce', async () => {
    // A guest may read product but not its cost: the pruned document would go upstream with the bad variable.
    const answer = await send(gateway.url, 'query($id: ID!) { product(id: $id) { id name cost } }', { variables: { id: { not: 'an id' } } });
    expect(answer.body.data ?? null).toBeNull();
    expect(answer.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
    expect(shop.operations()).toHaveLength(0);
    // Control: with a good variable the same operation reaches the upstream, cost denied.
    const good = await send(gateway.url, 'query($id: ID!) { product(id: $id) { id name cost } }', { variables: { id: 'p1' } });
    expect(good.body.errors?.map((error) => error.extensions?.['code'])).toContain('UNAUTHENTICATED');
    expect(shop.operations()).toHaveLength(1);
  });

  it('answers BAD_USER_INPUT, with no error-level log line, when every upstream field is denied and a variable does not coerce', async () => {
    const answer = await send(gateway.url, 'mutation($id: ID!) { deleteProduct(id: $id) }', { variables: { id: { not: 'an id' } } });
    expect(answer.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
    expect(shop.operations()).toHaveLength(0);
    const levels = lines.map((line) => (JSON.parse(line) as { level: number }).level);
    expect(levels.filter((level) => level >= 50)).toEqual([]);
  });
});

describe('@authorized and @public where they protect nothing', () => {
  const DECLARED_EVERYWHERE = `directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @public on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
`;

  it('refuses the start, naming each argument, input field and enum value', async () => {
    const sdl = `${DECLARED_EVERYWHERE}
type Query {
  products(limit: Int @authorized(roles: ["ADMIN"])): [String] @public
  find(filter: Filter): [String] @public
  sorted(order: Order): [String] @public
}
input Filter { owner: String @authorized }
enum Order { NEWEST OLDEST @public }
`;
    const config = testConfig({ ROLES: 'EDITOR', UPSTREAMS: 'a=http://127.0.0.1:9/graphql', UPSTREAM_SCHEMA_A: sdlFile('placements.graphql', sdl) });
    const error = (await createApp(config, createLogger('silent')).catch((caught: unknown) => caught)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems).toHaveLength(3);
    expect(error.problems.join('\n')).toContain('Query.products(limit:)');
    expect(error.problems.join('\n')).toContain('Filter.owner');
    expect(error.problems.join('\n')).toContain('Order.OLDEST');
  });

  it('keeps the old schema when a poll brings one with @authorized on an argument', async () => {
    const shop = await startUpstream({ service: true });
    const gateway = await startGateway({ config: testConfig({ ROLES: 'EDITOR', UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '1' }) });
    try {
      const changed = SHOP_SDL.replace(DIRECTIVES, DECLARED_EVERYWHERE).replace('type Query {', 'type Query {\n  fresh(token: String @authorized(roles: ["ADMIN"])): String @public');
      shop.setSdl(changed);
      const loads = (): number => shop.requests.filter((request) => String(request.body['query']).includes('_service')).length;
      const before = loads();
      await eventually(() => loads() >= before + 2);
      expect(codesByPath(await send(gateway.url, '{ fresh }'))).toEqual({ '': 'GRAPHQL_VALIDATION_FAILED' });
      expect((await send(gateway.url, '{ products { id } }')).body.errors).toBeUndefined();
    } finally {
      await gateway.stop();
      await shop.close();
    }
  });
});
