/**
 * The real gateway in front of two real upstreams that verify its identity tokens with `portcullis/upstream`:
 * the example shop (Apollo Server, examples/upstream-service.ts) and a plain node:http one that records what it
 * receives. Once with HS256 (the upstreams hold JWT_SECRET) and once with EdDSA (they fetch the gateway's JWKS).
 */
import { createServer, type Server } from 'node:http';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { graphql } from 'graphql';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startUpstreamService, type UpstreamService } from '../../examples/upstream-service.js';
import type { Env } from '../../src/config/config.js';
import { TokenRejection } from '../../src/errors.js';
import { IdentityError, verifyIdentity, type GatewayKeys, type Identity } from '../../src/upstream/index.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, eventually, send, signIn } from '../gateway/support.js';
import { expectRefused } from '../keys/support.js';
import { close, listen } from './support.js';

const AUDIT_SDL = `directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT
type Query {
  whoami: Whoami @authorized
}
type Whoami {
  userId: ID!
  roles: [String!]!
  tokenId: ID!
}
`;

interface Audit {
  readonly url: string;
  readonly server: Server;
  /** Authorization headers received on operations (not on schema loading). */
  readonly authorizations: Array<string | undefined>;
}

/** A plain node:http upstream: verifyIdentity on the IncomingMessage, graphql-js for the rest. */
async function startAudit(gateway: () => GatewayKeys): Promise<Audit> {
  const schema = makeExecutableSchema<{ identity: Identity | null }>({
    typeDefs: [AUDIT_SDL, 'type _Service { sdl: String! } extend type Query { _service: _Service! }'],
    resolvers: { Query: { whoami: (_: unknown, __: unknown, context: { identity: Identity | null }) => context.identity, _service: () => ({ sdl: AUDIT_SDL }) } },
  });
  const authorizations: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const body = JSON.parse(text) as { query: string; variables?: Record<string, unknown> };
      if (!body.query.includes('_service')) authorizations.push(req.headers.authorization);
      verifyIdentity(req, { gateway: gateway(), audience: 'audit' })
        .then((identity) => graphql({ schema, source: body.query, variableValues: body.variables ?? null, contextValue: { identity } }))
        .then(
          (result) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result)),
          (error: unknown) => {
            const code = error instanceof IdentityError ? error.code : 'INTERNAL';
            res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: 'refused', extensions: { code } }] }));
          },
        );
    });
  });
  return { url: `${await listen(server)}/graphql`, server, authorizations };
}

const cases: Array<{ name: string; env: (secret: string) => Env; keys: (secret: string, gatewayUrl: string) => GatewayKeys }> = [
  { name: 'HS256', env: (secret) => ({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret }), keys: (secret) => ({ secret }) },
  {
    name: 'EdDSA',
    env: () => ({ JWT_ALGORITHM: 'EdDSA', JWT_SECRET: undefined, KEY_ROTATION_LEAD_SECONDS: '600' }),
    // Before the gateway has started its URL is unknown; the schema loading it does meanwhile is a guest's
    // request (no Authorization), for which no key is ever fetched.
    keys: (_, gatewayUrl) => gatewayUrl || 'http://gateway-not-started.invalid',
  },
];

describe.each(cases)('identity tokens the real $name gateway sends upstream', ({ name, env, keys }) => {
  const secret = randomSecret();
  let gatewayUrl = '';
  let shop: UpstreamService;
  let audit: Audit;
  let gateway: TestGateway;
  let user: string;
  let admin: string;

  beforeAll(async () => {
    // The upstreams start first (the gateway loads their SDL at start) and learn the gateway's URL after.
    shop = await startUpstreamService({ gateway: () => keys(secret, gatewayUrl), audience: 'shop' });
    audit = await startAudit(() => keys(secret, gatewayUrl));
    gateway = await startGateway({ config: testConfig({ ...env(secret), UPSTREAMS: `shop=${shop.url},audit=${audit.url}` }) });
    gatewayUrl = gateway.url;
    // /readyz answers 200 once every upstream's schema has loaded (a slow machine may need a retry or two).
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
    const create = gateway.createUser.bind(gateway);
    [user, admin] = await Promise.all([signIn(gateway.url, create, 'user@example.com', ['USER']), signIn(gateway.url, create, 'admin@example.com', ['ADMIN'])]);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await shop?.stop();
    await close(audit?.server);
  });
  beforeEach(() => {
    shop.resolved.clear();
    audit.authorizations.length = 0;
  });

  it('serves the example’s public nested list to a guest, and sends it no Authorization', async () => {
    const answer = await send(gateway.url, '{ products { id reviews { id rating } } }');
    expect(answer.body.errors).toBeUndefined();
    const products = answer.body.data?.['products'] as Array<{ reviews: unknown[] }>;
    expect(products).toHaveLength(10);
    expect(products.every((product) => product.reviews.length === 3)).toBe(true);
    const whoami = await send(gateway.url, '{ whoami { userId } }');
    expect(codesByPath(whoami)).toEqual({ whoami: 'UNAUTHENTICATED' });
    expect(audit.authorizations).toEqual([]);
  });

  it('lets the upstream know the caller: orders are the signed-in user’s own, by the verified userId', async () => {
    const answer = await send(gateway.url, '{ orders { userId total } }', { token: user });
    expect(answer.body.errors).toBeUndefined();
    const userId = decodeJwt(user).sub;
    expect(answer.body.data?.['orders']).toEqual([
      { userId, total: 11 },
      { userId, total: 24 },
    ]);
  });

  it('keeps ADMIN fields from a USER at the edge and gives them to an ADMIN, whose roles the upstream sees', async () => {
    const asUser = await send(gateway.url, '{ products(first: 2) { cost } salesReport { orders } }', { token: user });
    expect(codesByPath(asUser)).toEqual({ 'products.0.cost': 'FORBIDDEN', 'products.1.cost': 'FORBIDDEN', salesReport: 'FORBIDDEN' });
    expect(shop.resolved.get('Product.cost')).toBeUndefined();
    expect(shop.resolved.get('Query.salesReport')).toBeUndefined();
    const asAdmin = await send(gateway.url, '{ products(first: 2) { cost } salesReport { orders } }', { token: admin });
    expect(asAdmin.body.errors).toBeUndefined();
    expect(asAdmin.body.data?.['products']).toEqual([{ cost: 6 }, { cost: 7 }]);
    expect(shop.resolved.get('Product.cost')).toBe(2);
  });

  it(`sends a ${name} identity token of the documented shape, which a plain Node upstream verifies`, async () => {
    const answer = await send(gateway.url, '{ whoami { userId roles tokenId } }', { token: admin });
    expect(answer.body.errors).toBeUndefined();
    const [authorization] = audit.authorizations;
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1] ?? '';
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    expect(header).toMatchObject({ alg: name, typ: 'identity+jwt' });
    expect(typeof header.kid).toBe('string');
    expect(claims).toMatchObject({ iss: 'portcullis', aud: 'audit', sub: decodeJwt(admin).sub, sid: decodeJwt(admin)['sid'], roles: ['ADMIN'] });
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(60);
    expect(claims.exp!).toBeLessThanOrEqual(decodeJwt(admin).exp!);
    expect(answer.body.data?.['whoami']).toEqual({ userId: claims.sub, roles: ['ADMIN'], tokenId: claims.jti });
  });

  it('sends a token that no other upstream and not the gateway itself accept', async () => {
    await send(gateway.url, '{ whoami { userId } }', { token: user });
    const token = /^Bearer (\S+)$/.exec(audit.authorizations[0] ?? '')?.[1] ?? '';
    // Replayed by the audit upstream to the shop (another aud): refused by the example's verifier.
    const replayed = await fetch(shop.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ orders { id } }' }) });
    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { errors: Array<{ extensions: { reason: string } }> }).errors[0]?.extensions.reason).toBe('IDENTITY_INVALID');
    // Presented to the gateway as an access token: typ identity+jwt never passes as at+jwt.
    await expectRefused(gateway, token, TokenRejection.TOKEN_INVALID);
    // And the user's access token sent straight to an upstream is no identity token.
    const direct = await fetch(shop.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${user}` }, body: JSON.stringify({ query: '{ orders { id } }' }) });
    expect(direct.status).toBe(401);
  });
});
