/**
 * The real gateway in front of two real upstreams that verify its identity tokens with `portcullis/upstream`:
 * the example shop (Apollo Server, examples/upstream-service.ts) and a plain node:http one that records what it
 * receives. Once with HS256 (each upstream holds its own identity key, as `npm run identity:key` prints it) and
 * once with EdDSA (they fetch the gateway's JWKS).
 */
import { createServer, type Server } from 'node:http';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { graphql } from 'graphql';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startUpstreamService, type UpstreamService } from '../../examples/upstream-service.js';
import type { Env } from '../../src/config/config.js';
import { TokenRejection } from '../../src/errors.js';
import { IdentityError, IdentityErrorCode, verifyIdentity, type GatewayKeys, type Identity } from '../../src/upstream/index.js';
import { runCli } from '../support/cli.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, eventually, send, signIn } from '../gateway/support.js';
import { expectAccepted, expectRefused, forgeToken } from '../keys/support.js';
import { close, hmacMintingKey, listen, mintIdentityToken, refusalCode } from './support.js';

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

/** What `npm run identity:key -- --upstream <name>` prints with the gateway's configuration: that upstream's key. */
async function printedIdentityKey(env: Env, upstream: string): Promise<string> {
  const result = await runCli('src/cli/identity-key.ts', ['--upstream', upstream], { env: { PATH: process.env['PATH'], ...env } });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

/** The keys each upstream is given, by upstream name: identity keys (HS256) or nothing to hold (key pairs). */
type HeldKeys = Readonly<Record<string, string>>;

const cases: Array<{ name: string; env: (secret: string) => Env; held: (env: Env) => Promise<HeldKeys>; keys: (held: HeldKeys, upstream: string, gatewayUrl: string) => GatewayKeys }> = [
  {
    name: 'HS256',
    env: (secret) => ({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret }),
    held: async (env) => {
      const [shop, audit] = await Promise.all([printedIdentityKey(env, 'shop'), printedIdentityKey(env, 'audit')]);
      return { shop: shop!, audit: audit! };
    },
    keys: (held, upstream) => ({ secret: held[upstream]! }),
  },
  {
    name: 'EdDSA',
    env: () => ({ JWT_ALGORITHM: 'EdDSA', JWT_SECRET: undefined, KEY_ROTATION_LEAD_SECONDS: '600' }),
    held: async () => ({}),
    // Before the gateway has started its URL is unknown; the schema loading it does meanwhile is a guest's
    // request (no Authorization), for which no key is ever fetched.
    keys: (_, __, gatewayUrl) => gatewayUrl || 'http://gateway-not-started.invalid',
  },
];

describe.each(cases)('identity tokens the real $name gateway sends upstream', ({ name, env, held: holdKeys, keys }) => {
  const secret = randomSecret();
  const refreshSecret = randomSecret();
  let gatewayUrl = '';
  let held: HeldKeys = {};
  let shop: UpstreamService;
  let audit: Audit;
  let gateway: TestGateway;
  let user: string;
  let admin: string;

  beforeAll(async () => {
    // The upstreams start first (the gateway loads their SDL at start) and learn the gateway's URL after.
    shop = await startUpstreamService({ gateway: () => keys(held, 'shop', gatewayUrl), audience: 'shop' });
    audit = await startAudit(() => keys(held, 'audit', gatewayUrl));
    // The gateway's configuration, as its operator would export it for the gateway and for npm run identity:key.
    const gatewayEnv: Env = { ...env(secret), REFRESH_TOKEN_HASH_SECRET: refreshSecret, UPSTREAMS: `shop=${shop.url},audit=${audit.url}` };
    held = await holdKeys({ NODE_ENV: 'test', MONGODB_URI: 'mongodb://127.0.0.1:27999/unused_by_identity_key', LOG_LEVEL: 'silent', ...gatewayEnv });
    gateway = await startGateway({ config: testConfig(gatewayEnv) });
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
  /** The identity token the gateway sent the audit upstream for this request. */
  async function auditToken(accessToken: string): Promise<string> {
    const answer = await send(gateway.url, '{ whoami { userId } }', { token: accessToken });
    expect(answer.body.errors).toBeUndefined();
    return /^Bearer (\S+)$/.exec(audit.authorizations[0] ?? '')?.[1] ?? '';
  }

  async function callShop(token: string): Promise<{ status: number; reason: unknown }> {
    const response = await fetch(shop.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ orders { id } }' }) });
    const body = (await response.json()) as { errors?: Array<{ extensions: { reason?: string } }> };
    return { status: response.status, reason: body.errors?.[0]?.extensions.reason };
  }

  // The next four concern HS256's derived per-upstream keys; key pairs have no key an upstream holds, so vitest
  // reports them as skipped for the EdDSA case of this describe.each.
  it.runIf(name === 'HS256')('refuses an ADMIN access token signed with the key an upstream holds, under any kid (UNAUTHENTICATED at /graphql)', async () => {
    const accessKid = decodeProtectedHeader(admin).kid!;
    const forge = (k: string, kid: string): Promise<string> => forgeToken({ like: admin, privateJwk: { kty: 'oct', k } satisfies JWK, header: { alg: 'HS256', kid }, nowMs: Date.now() });
    // The same forgery with JWT_SECRET passes: the shape is right, so only the key can make the difference below.
    await expectAccepted(gateway, await forge(secret, accessKid));
    for (const upstream of ['shop', 'audit']) {
      const heldKid = (await hmacMintingKey(held[upstream]!)).kid;
      expect(heldKid).not.toBe(accessKid);
      for (const kid of [heldKid, accessKid]) await expectRefused(gateway, await forge(held[upstream]!, kid), TokenRejection.TOKEN_INVALID);
      const asAdmin = await send(gateway.url, '{ salesReport { orders } }', { token: await forge(held[upstream]!, heldKid) });
      expect(asAdmin.body.errors?.map((error) => error.extensions?.['code'])).toEqual(['UNAUTHENTICATED']);
    }
    expect(shop.resolved.get('Query.salesReport')).toBeUndefined();
  });

  it.runIf(name === 'HS256')('refuses a token signed with one upstream’s key as another upstream’s identity token (IDENTITY_INVALID)', async () => {
    const userId = decodeJwt(user).sub!;
    const shopKey = await hmacMintingKey(held['shop']!);
    const auditKey = await hmacMintingKey(held['audit']!);
    // The shop's own key is accepted by the shop: the forgeries below differ from it only in their key.
    expect(await callShop(await mintIdentityToken(shopKey, { userId, audience: 'shop', roles: ['ADMIN'] }))).toEqual({ status: 200, reason: undefined });
    for (const kid of [auditKey.kid, shopKey.kid]) {
      const forged = await mintIdentityToken({ ...auditKey, kid }, { userId, audience: 'shop', roles: ['ADMIN'] });
      expect(await callShop(forged)).toEqual({ status: 401, reason: IdentityErrorCode.IDENTITY_INVALID });
      expect(await refusalCode(verifyIdentity({ authorization: `Bearer ${forged}` }, { gateway: { secret: held['shop']! }, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    }
  });

  it.runIf(name === 'HS256')('signs each upstream’s tokens with its own key: they verify with the printed key for their own audience only', async () => {
    const token = await auditToken(user);
    const header = decodeProtectedHeader(token);
    expect(header.kid).toBe((await hmacMintingKey(held['audit']!)).kid);
    expect(header.kid).not.toBe(decodeProtectedHeader(user).kid);
    const bearer = { authorization: `Bearer ${token}` };
    expect((await verifyIdentity(bearer, { gateway: { secret: held['audit']! }, audience: 'audit' }))?.userId).toBe(decodeJwt(user).sub);
    expect(await refusalCode(verifyIdentity(bearer, { gateway: { secret: held['shop']! }, audience: 'audit' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect(await refusalCode(verifyIdentity(bearer, { gateway: { secret: held['shop']! }, audience: 'shop' }))).toBe(IdentityErrorCode.IDENTITY_INVALID);
  });

  it.runIf(name === 'HS256')('refuses the real tokens at an upstream still given JWT_SECRET, with a cause that names identity:key', async () => {
    const token = await auditToken(user);
    const error = await verifyIdentity({ authorization: `Bearer ${token}` }, { gateway: { secret }, audience: 'audit' }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as IdentityError).code).toBe(IdentityErrorCode.IDENTITY_INVALID);
    expect((error as IdentityError).cause).toBeInstanceOf(TypeError);
    expect(String(((error as IdentityError).cause as TypeError).message)).toContain('npm run identity:key -- --upstream audit');
  });
});
