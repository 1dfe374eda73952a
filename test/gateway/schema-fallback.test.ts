import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, eventually, send, signIn, startUpstream, type TestUpstream } from './support.js';

/** portcullis_upstream_introspection_refused_total for one upstream, 0 when absent. */
async function refusals(gateway: TestGateway, upstream: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const match = new RegExp(`^portcullis_upstream_introspection_refused_total\\{upstream="${upstream}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

describe('a schema poll that finds no _service SDL', () => {
  let shop: TestUpstream;
  let gateway: TestGateway;
  let user: string;
  const lines: string[] = [];
  const serviceLoads = (): number => shop.requests.filter((request) => String(request.body['query']).includes('_service')).length;
  const introspections = (): number => shop.requests.filter((request) => String(request.body['query']).includes('__schema')).length;
  const refusalWarnings = (): string[] => lines.filter((line) => line.includes('no longer answers { _service'));

  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '1', METRICS_ENABLED: 'true' }), logger });
    user = await signIn(gateway.url, gateway.createUser.bind(gateway), 'user@example.com', ['USER']);
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
  });

  /** The nested rule (Product.cost is ADMIN only) and the root rule (products is public) both still hold. */
  async function expectRulesKept(): Promise<void> {
    const asUser = await send(gateway.url, '{ products { id cost } }', { token: user });
    expect(asUser.body.data?.['products']).toEqual([1, 2, 3].map((n) => ({ id: `p${n}`, cost: null })));
    expect(codesByPath(asUser)).toMatchObject({ 'products.0.cost': 'FORBIDDEN' });
    expect((await send(gateway.url, '{ products { id } }')).body.errors).toBeUndefined();
  }

  for (const answer of ['errors', 'empty'] as const) {
    it(`keeps the schema and its rules when _service answers ${answer === 'errors' ? 'GraphQL errors' : 'an empty sdl'}, warns once and counts every refused poll`, async () => {
      await expectRulesKept();
      const warningsBefore = refusalWarnings().length;
      const countedBefore = await refusals(gateway, 'shop');
      const introspectionsBefore = introspections();

      shop.serviceAnswer = answer;
      const loads = serviceLoads();
      await eventually(() => serviceLoads() >= loads + 3);
      await expectRulesKept();
      await eventually(async () => (await refusals(gateway, 'shop')) >= countedBefore + 2);
      expect(introspections()).toBe(introspectionsBefore);
      expect(refusalWarnings()).toHaveLength(warningsBefore + 1);
      expect(refusalWarnings().at(-1)).toContain('"upstream":"shop"');

      // Back to normal: the counter stops, and a later episode is warned about again.
      const recoveries = (): number => lines.filter((line) => line.includes('answers { _service { sdl } } again')).length;
      const recovered = recoveries();
      shop.serviceAnswer = 'sdl';
      await eventually(() => recoveries() > recovered);
      const settled = await refusals(gateway, 'shop');
      const after = serviceLoads();
      await eventually(() => serviceLoads() >= after + 2);
      expect(await refusals(gateway, 'shop')).toBe(settled);
      await expectRulesKept();
    }, 20_000);
  }
});
