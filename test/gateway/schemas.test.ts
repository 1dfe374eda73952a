import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, eventually, send, SHOP_SDL, signIn, startUpstream, type TestUpstream } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sdl-'));
function sdlFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
/** The shop SDL using the directives without declaring them. */
const UNDECLARED_SHOP_SDL = SHOP_SDL.replace(/^directive .*$/gm, '');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(options: Parameters<typeof startUpstream>[0]): Promise<TestUpstream> {
  const started = await startUpstream(options);
  cleanups.push(() => started.close());
  return started;
}
async function gatewayWith(env: Record<string, string>): Promise<TestGateway> {
  const started = await startGateway({ config: testConfig({ ROLES: 'EDITOR', ...env }) });
  cleanups.push(() => started.stop());
  return started;
}
const readyz = async (gateway: TestGateway): Promise<number> => (await fetch(`${gateway.url}/readyz`)).status;

describe('where an upstream schema comes from', () => {
  it('reads UPSTREAM_SCHEMA_<NAME>, directives used without being declared, even when the upstream answers only introspection', async () => {
    const shop = await upstream({ service: false });
    const gateway = await gatewayWith({ UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_SHOP: sdlFile('shop.graphql', UNDECLARED_SHOP_SDL) });
    const answer = await send(gateway.url, '{ products { id cost } }');
    expect(answer.body.data).toEqual({ products: [{ id: 'p1', cost: null }, { id: 'p2', cost: null }, { id: 'p3', cost: null }] });
    expect(codesByPath(answer)).toMatchObject({ 'products.0.cost': 'UNAUTHENTICATED' });
    expect(shop.requests.some((request) => /_service|__schema/.test(String(request.body['query'])))).toBe(false);
  });

  it('asks the upstream for { _service { sdl } } and keeps its directives', async () => {
    const shop = await upstream({ service: true });
    const gateway = await gatewayWith({ UPSTREAMS: `shop=${shop.url}` });
    expect((await send(gateway.url, '{ products { id } }')).body.errors).toBeUndefined();
    expect(codesByPath(await send(gateway.url, '{ adminReport }', { token: await signIn(gateway.url, gateway.createUser.bind(gateway), 'u@example.com', ['USER']) }))).toEqual({
      adminReport: 'FORBIDDEN',
    });
  });

  it("builds a federation subgraph's _service SDL: unknown directives dropped, extended root types defined", async () => {
    const federated = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
extend type Query {
  products: [Product!]! @public
  adminReport: String @authorized(roles: ["ADMIN"])
}
type Product @key(fields: "id") { id: ID! name: String! @shareable }
`;
    const shop = await upstream({ service: true, advertisedSdl: federated });
    const gateway = await gatewayWith({ UPSTREAMS: `shop=${shop.url}` });
    expect((await send(gateway.url, '{ products { id name } }')).body.data).toEqual({
      products: [1, 2, 3].map((n) => ({ id: `p${n}`, name: `Product ${n}` })),
    });
    expect(codesByPath(await send(gateway.url, '{ adminReport }'))).toEqual({ adminReport: 'UNAUTHENTICATED' });
  });

  it('falls back to introspection, where every root field needs a signed-in user (no directives survive), and says so once', async () => {
    const shop = await upstream({ service: false });
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const gateway = await startGateway({ config: testConfig({ ROLES: 'EDITOR', UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '1' }), logger });
    cleanups.push(() => gateway.stop());
    const introspections = (): number => shop.requests.filter((request) => String(request.body['query']).includes('__schema')).length;
    await eventually(() => introspections() >= 2);
    expect(lines.filter((line) => line.includes('introspection'))).toHaveLength(1);
    expect(lines.find((line) => line.includes('introspection'))).toContain('UPSTREAM_SCHEMA_SHOP');

    shop.reset();
    const guest = await send(gateway.url, '{ products { id } }');
    expect(codesByPath(guest)).toEqual({ products: 'UNAUTHENTICATED' });
    expect(shop.operations()).toHaveLength(0);
    const token = await signIn(gateway.url, gateway.createUser.bind(gateway), 'u@example.com', ['USER']);
    expect((await send(gateway.url, '{ products { id } }', { token })).body.errors).toBeUndefined();
  });
});

describe('an upstream that is down at start', () => {
  it('starts, serves its own fields, answers /readyz 503, then 200 and upstream fields once the upstream is up', async () => {
    const shop = await upstream({ service: true });
    await shop.close();
    const gateway = await gatewayWith({ UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '1' });
    expect(await readyz(gateway)).toBe(503);
    expect(codesByPath(await send(gateway.url, '{ me { id } }'))).toEqual({ me: 'UNAUTHENTICATED' });

    await shop.reopen();
    await eventually(async () => (await readyz(gateway)) === 200);
    expect((await send(gateway.url, '{ products { id } }')).body.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }] });
  });
});

describe('schema polling', () => {
  it('picks up a changed schema, and refuses one that collides while keeping the old', async () => {
    const shop = await upstream({ service: true });
    const gateway = await gatewayWith({ UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_POLL_SECONDS: '1' });
    expect(codesByPath(await send(gateway.url, '{ fresh }'))).toEqual({ '': 'GRAPHQL_VALIDATION_FAILED' });

    shop.setSdl(SHOP_SDL.replace('type Query {', 'type Query {\n  fresh: String @public'));
    await eventually(async () => (await send(gateway.url, '{ fresh }')).body.errors === undefined);

    // Query.me is the gateway's own: a schema that adds it does not compose.
    shop.setSdl(SHOP_SDL.replace('type Query {', 'type Query {\n  fresh: String @public\n  me: String @public'));
    const loads = (): number => shop.requests.filter((request) => String(request.body['query']).includes('_service')).length;
    const before = loads();
    await eventually(() => loads() >= before + 2);
    expect((await send(gateway.url, '{ fresh }')).body.errors).toBeUndefined();
    // Still the gateway's own `me` (an object), not the upstream's (a String).
    expect(codesByPath(await send(gateway.url, '{ me { id } }'))).toEqual({ me: 'UNAUTHENTICATED' });
    expect(shop.count('Query.me')).toBe(0);
  });
});

describe('schema problems refuse the start, all at once', () => {
  it('names the unreadable file, the SDL that does not parse, the unknown role and the collision', async () => {
    const config = testConfig({
      UPSTREAMS: 'a=http://127.0.0.1:9/graphql,b=http://127.0.0.1:9/graphql,c=http://127.0.0.1:9/graphql,d=http://127.0.0.1:9/graphql',
      UPSTREAM_SCHEMA_A: join(dir, 'missing.graphql'),
      UPSTREAM_SCHEMA_B: sdlFile('b.graphql', 'type Query { broken: }'),
      UPSTREAM_SCHEMA_C: sdlFile('c.graphql', 'type Query { secrets: String @authorized(roles: ["WIZARD"]) }'),
      UPSTREAM_SCHEMA_D: sdlFile('d.graphql', 'type Query { me: String @public }'),
    });
    const error = await createApp(config, createLogger('silent')).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.find((problem) => problem.startsWith('UPSTREAM_SCHEMA_A'))).toContain('missing.graphql');
    expect(problems.find((problem) => problem.startsWith('UPSTREAM_SCHEMA_B'))).toContain('does not parse');
    expect(problems.find((problem) => problem.includes('WIZARD'))).toContain('ROLES');
    expect(problems.find((problem) => problem.includes('Query.me'))).toMatch(/the gateway.*UPSTREAM_SCHEMA_D/);
  });

  it('refuses a type two upstreams define differently, naming both, and shares an identical one', async () => {
    const config = testConfig({
      UPSTREAMS: 'a=http://127.0.0.1:9/graphql,b=http://127.0.0.1:9/graphql',
      UPSTREAM_SCHEMA_A: sdlFile('a2.graphql', 'type Query { a: Thing @public, sa: Same @public } type Thing { id: ID! } type Same { id: ID! }'),
      UPSTREAM_SCHEMA_B: sdlFile('b2.graphql', 'type Query { b: Thing @public, sb: Same @public } type Thing { id: String } type Same { id: ID! }'),
    });
    const error = (await createApp(config, createLogger('silent')).catch((caught: unknown) => caught)) as ConfigError;
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/type Thing .*UPSTREAM_SCHEMA_A.*UPSTREAM_SCHEMA_B/);
  });
});

describe('UPSTREAMS and related settings', () => {
  it('reports every malformed entry, duplicate, non-http URL, refused header and stray schema variable at once', () => {
    let problems: readonly string[] = [];
    try {
      loadConfig({
        NODE_ENV: 'test',
        DATA_DIR: dir,
        JWT_SECRET: randomSecret(),
        REFRESH_TOKEN_HASH_SECRET: randomSecret(),
        UPSTREAMS: 'justaname, shop=ftp://files.example, 9lives=http://a.example, dup=http://a.example,dup=http://b.example',
        UPSTREAM_FORWARD_HEADERS: 'x-request-id,Cookie,x-forwarded-for,connection',
        UPSTREAM_SCHEMA_NOPE: '/tmp/nope.graphql',
        UPSTREAM_TIMEOUT_MS: '15000',
        AUTHORIZATION_MODE: 'lenient',
        ROLES: 'USER,editor',
      });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    const text = problems.join('\n');
    expect(text).toContain('"justaname" is not name=url');
    expect(text).toContain('URL of "shop" must be an http:// or https:// URL');
    expect(text).toContain('the name "9lives" must match');
    expect(text).toContain('"dup" is listed twice');
    expect(text).toMatch(/UPSTREAM_FORWARD_HEADERS: cookie is never forwarded/);
    expect(text).toMatch(/UPSTREAM_FORWARD_HEADERS: x-forwarded-for is never forwarded/);
    expect(text).toMatch(/UPSTREAM_FORWARD_HEADERS: connection is never forwarded/);
    expect(text).toContain('UPSTREAM_SCHEMA_NOPE: names no upstream');
    expect(text).toContain('UPSTREAM_TIMEOUT_MS');
    expect(text).toContain('AUTHORIZATION_MODE');
    expect(text).toContain('ROLES');
    expect(problems.length).toBeGreaterThanOrEqual(11);
  });

  it('has the documented defaults and always knows USER and ADMIN', () => {
    const config = testConfig({ ROLES: 'EDITOR,SUPPORT' });
    expect(config.upstreams).toEqual({
      list: [],
      schemaPollSeconds: 60,
      timeoutMs: 5000,
      maxResponseBytes: 8 * 1024 * 1024,
      forwardHeaders: [],
      errorCodesPassed: ['BAD_USER_INPUT', 'NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED'],
    });
    expect(config.authorizationMode).toBe('filter');
    expect([...config.roles].sort()).toEqual(['ADMIN', 'EDITOR', 'SUPPORT', 'USER']);
  });
});

