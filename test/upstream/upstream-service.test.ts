/**
 * The example upstream (examples/upstream-service.ts) on its own, called as the gateway would call it: with an
 * identity token minted in the gateway's format, or none for a guest. Its resolvers refuse what the gateway
 * should already have denied (defense in depth), and it answers `{ _service { sdl } }` with its directives.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstreamService, UPSTREAM_SDL, type UpstreamService } from '../../examples/upstream-service.js';
import { runCli } from '../support/cli.js';
import { randomSecret } from '../support/config.js';
import { hmacMintingKey, mintIdentityToken, type MintingKey } from './support.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Answer {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }> };
}

async function post(url: string, query: string, token?: string): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

describe('the example upstream service', () => {
  // Its HS256 identity key, as npm run identity:key prints it (any 256 random bits do for the service itself).
  const identityKey = randomSecret();
  let service: UpstreamService;
  let signing: MintingKey;

  beforeAll(async () => {
    signing = await hmacMintingKey(identityKey);
    service = await startUpstreamService({ gateway: { secret: identityKey }, audience: 'shop' });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('answers { _service { sdl } } with an SDL that declares and uses @authorized and @public', async () => {
    const answer = await post(service.url, '{ _service { sdl } }');
    const sdl = (answer.body.data?.['_service'] as { sdl: string }).sdl;
    expect(sdl).toBe(UPSTREAM_SDL);
    const schema = buildSchema(sdl);
    expect(schema.getDirective('authorized')?.args.map((arg) => arg.name)).toEqual(['roles']);
    expect(schema.getDirective('public')).toBeDefined();
    expect(sdl).toMatch(/products\(.*\): \[Product!\]! @public/);
    expect(sdl).toContain('orders: [Order!]! @authorized\n');
    expect(sdl).toContain('salesReport: SalesReport! @authorized(roles: ["ADMIN"])');
    expect(sdl).toContain('cost: Float @authorized(roles: ["ADMIN"])');
    expect(sdl).toContain('union SearchResult = Product | Review');
    // The service field is the service's, not the API's: it must not reach the composed schema.
    expect(parse(sdl).definitions.some((definition) => 'name' in definition && definition.name?.value === '_Service')).toBe(false);
  });

  it('serves the public catalogue to a guest: 10 products, each with a list of reviews', async () => {
    const answer = await post(service.url, '{ products { id name price reviews { id rating text } } }');
    expect(answer.body.errors).toBeUndefined();
    const products = answer.body.data?.['products'] as Array<{ reviews: unknown[] }>;
    expect(products).toHaveLength(10);
    for (const product of products) expect(product.reviews.length).toBeGreaterThan(0);
  });

  it('answers a union and an interface through fragments', async () => {
    const answer = await post(service.url, '{ search(text: "product 1") { __typename ... on Product { id } ... on Review { id rating } } product(id: "p2") { ... on Node { id } } }');
    expect(answer.body.errors).toBeUndefined();
    const kinds = new Set((answer.body.data?.['search'] as Array<{ __typename: string }>).map((item) => item.__typename));
    expect(kinds).toEqual(new Set(['Product', 'Review']));
  });

  it('refuses guarded fields to a guest on its own, whatever the gateway decided', async () => {
    for (const query of ['{ orders { id } }', '{ salesReport { revenue } }', '{ products(first: 1) { cost } }', 'mutation { placeOrder(productId: "p1", quantity: 1) { id } }']) {
      const answer = await post(service.url, query);
      expect(answer.body.errors?.[0]?.extensions?.['code'], query).toBe('UNAUTHENTICATED');
    }
  });

  it('returns the caller’s own orders, by the user id in the identity token', async () => {
    const ada = await post(service.url, '{ orders { id userId total } }', await mintIdentityToken(signing, { userId: 'ada' }));
    const bob = await post(service.url, '{ orders { id userId total } }', await mintIdentityToken(signing, { userId: 'bob' }));
    expect((ada.body.data?.['orders'] as Array<{ userId: string }>).map((order) => order.userId)).toEqual(['ada', 'ada']);
    expect((bob.body.data?.['orders'] as Array<{ userId: string }>).map((order) => order.userId)).toEqual(['bob', 'bob']);
    const placed = await post(service.url, 'mutation { placeOrder(productId: "p3", quantity: 2) { userId total } }', await mintIdentityToken(signing, { userId: 'ada' }));
    expect(placed.body.data?.['placeOrder']).toEqual({ userId: 'ada', total: 24 });
  });

  it('gives cost and the sales report to ADMIN only', async () => {
    const user = await mintIdentityToken(signing, { userId: 'ada', roles: ['USER'] });
    const admin = await mintIdentityToken(signing, { userId: 'root', roles: ['USER', 'ADMIN'] });
    const asUser = await post(service.url, '{ products(first: 1) { cost } salesReport { orders } }', user);
    expect(asUser.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    const asAdmin = await post(service.url, '{ products(first: 1) { cost } salesReport { orders } }', admin);
    expect(asAdmin.body.errors).toBeUndefined();
    expect(asAdmin.body.data?.['products']).toEqual([{ cost: 6 }]);
  });

  it('answers 401 with the verifier’s code for a bad identity token, and resolves nothing', async () => {
    const before = service.resolved.get('Query.products') ?? 0;
    // Another secret under the same kid: a forged signature.
    const forged = await mintIdentityToken({ ...signing, key: (await hmacMintingKey(randomSecret())).key }, { userId: 'ada' });
    const otherAudience = await mintIdentityToken(signing, { userId: 'ada', audience: 'billing' });
    for (const token of [forged, otherAudience]) {
      const answer = await post(service.url, '{ products { id } }', token);
      expect(answer.status).toBe(401);
      expect(answer.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'IDENTITY_INVALID' });
      expect(JSON.stringify(answer.body)).not.toContain('stacktrace');
    }
    expect(service.resolved.get('Query.products') ?? 0).toBe(before);
  });

  it('runs from the command line with npx tsx and PORT', async () => {
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['examples/upstream-service.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], IDENTITY_KEY: identityKey, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 15_000);
        const onData = (chunk: Buffer): void => {
          output += chunk.toString();
          const match = /upstream service on (http:\S+)/.exec(output);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
      });
      const answer = await post(url, '{ orders { userId } }', await mintIdentityToken(signing, { userId: 'cli' }));
      expect(answer.body.data?.['orders']).toEqual([{ userId: 'cli' }, { userId: 'cli' }]);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 30_000);

  it('refuses to start from the command line with JWT_SECRET instead of its identity key', async () => {
    const result = await runCli('examples/upstream-service.ts', [], { env: { PATH: process.env['PATH'], JWT_SECRET: randomSecret(), PORT: '0' } });
    expect(result.code).toBe(2);
    expect(result.stdout).not.toContain('upstream service on');
    expect(result.stderr).toContain('npm run identity:key -- --upstream shop');
  }, 30_000);
});
