import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { printableIdentityKey } from '../../src/tokens/identity-key.js';
import { IDENTITY_TOKEN_TYPE } from '../../src/tokens/identity-token.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { codesByPath, DIRECTIVES, send, signIn, startUpstream, type TestUpstream } from './support.js';

const BLOG_SDL = `${DIRECTIVES}
type Query {
  posts: [Post!]! @public
  drafts: [Post!]! @authorized(roles: ["EDITOR"])
}
type Post { id: ID! title: String! }
`;
const BLOG_RESOLVERS = {
  Query: { posts: () => [{ id: 'b1', title: 'Hello' }], drafts: () => [{ id: 'b2', title: 'Draft' }] },
};

describe('gateway in front of upstreams', () => {
  let shop: TestUpstream;
  let blog: TestUpstream;
  let gateway: TestGateway;
  let user: string;
  let admin: string;
  let editor: string;

  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    blog = await startUpstream({ service: true, sdl: BLOG_SDL, resolvers: BLOG_RESOLVERS });
    gateway = await startGateway({
      config: testConfig({
        UPSTREAMS: `shop=${shop.url},blog=${blog.url}`,
        ROLES: 'EDITOR',
        UPSTREAM_FORWARD_HEADERS: 'x-request-id,Accept-Language',
      }),
    });
    const create = gateway.createUser.bind(gateway);
    [user, admin, editor] = await Promise.all([
      signIn(gateway.url, create, 'user@example.com', ['USER']),
      signIn(gateway.url, create, 'admin@example.com', ['ADMIN']),
      signIn(gateway.url, create, 'editor@example.com', ['EDITOR']),
    ]);
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
    await blog?.close();
  });
  beforeEach(() => {
    shop.reset();
    blog.reset();
  });

  describe('guest, signed-in user and role holder', () => {
    const query = '{ products { id name cost reviews { text } } adminReport }';

    it('gives a guest the @public fields and UNAUTHENTICATED at each guarded one, which the upstream never resolves', async () => {
      const answer = await send(gateway.url, query);
      expect(answer.body.data).toEqual({
        products: [1, 2, 3].map((n) => ({ id: `p${n}`, name: `Product ${n}`, cost: null, reviews: [{ text: `Review of ${n}` }] })),
        adminReport: null,
      });
      expect(codesByPath(answer)).toEqual({
        'products.0.cost': 'UNAUTHENTICATED',
        'products.1.cost': 'UNAUTHENTICATED',
        'products.2.cost': 'UNAUTHENTICATED',
        adminReport: 'UNAUTHENTICATED',
      });
      expect(shop.count('Query.products')).toBe(1);
      expect(shop.count('Product.cost')).toBe(0);
      expect(shop.count('Query.adminReport')).toBe(0);
    });

    it('gives a signed-in user without the role FORBIDDEN at the role-guarded fields, unresolved upstream', async () => {
      const answer = await send(gateway.url, query, { token: user });
      expect(codesByPath(answer)).toEqual({ 'products.0.cost': 'FORBIDDEN', 'products.1.cost': 'FORBIDDEN', 'products.2.cost': 'FORBIDDEN', adminReport: 'FORBIDDEN' });
      expect(shop.count('Product.cost')).toBe(0);
      expect(shop.count('Query.adminReport')).toBe(0);
    });

    it('gives the role holder everything, as the upstream answered it, in one upstream call', async () => {
      const answer = await send(gateway.url, query, { token: admin });
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data).toEqual({
        products: [1, 2, 3].map((n) => ({ id: `p${n}`, name: `Product ${n}`, cost: 60 * n, reviews: [{ text: `Review of ${n}` }] })),
        adminReport: 'all good',
      });
      expect(shop.operations()).toHaveLength(1);
      expect(shop.count('Product.cost')).toBe(3);
    });

    it('treats an upstream root field without a directive as needing a signed-in user', async () => {
      const guest = await send(gateway.url, '{ myOrders { id total } }');
      expect(guest.body.data).toBeNull();
      expect(codesByPath(guest)).toEqual({ myOrders: 'UNAUTHENTICATED' });
      expect(shop.operations()).toHaveLength(0);

      const signedIn = await send(gateway.url, '{ myOrders { id total } }', { token: user });
      expect(signedIn.body).toEqual({ data: { myOrders: [{ id: 'o1', total: 100 }] } });
    });

    it('knows a configured role (ROLES): EDITOR passes @authorized(roles: ["EDITOR"]) and nothing else', async () => {
      const answer = await send(gateway.url, '{ editorNote adminReport }', { token: editor });
      expect(answer.body.data).toEqual({ editorNote: 'an editor note', adminReport: null });
      expect(codesByPath(answer)).toEqual({ adminReport: 'FORBIDDEN' });
      expect(shop.count('Query.adminReport')).toBe(0);
    });

    it('decides through fragments, aliases, unions and variables', async () => {
      const answer = await send(
        gateway.url,
        `query Shop($id: ID!) {
          first: product(id: $id) { ...Priced }
          hits: search(term: "x") { ... on Product { id cost } ... on Review { text } }
        }
        fragment Priced on Product { id cost }`,
        { token: user, variables: { id: 'p2' } },
      );
      expect(answer.body.data).toEqual({ first: { id: 'p2', cost: null }, hits: [{ id: 'p1', cost: null }, { text: 'Review of 1' }] });
      expect(codesByPath(answer)).toEqual({ 'first.cost': 'FORBIDDEN', 'hits.0.cost': 'FORBIDDEN' });
      expect(shop.count('Product.cost')).toBe(0);
    });
  });

  describe('mutations', () => {
    it('never sends a denied mutation field upstream, and sends the allowed one', async () => {
      const guest = await send(gateway.url, 'mutation { placeOrder(productId: "p1") { id } }');
      expect(codesByPath(guest)).toEqual({ placeOrder: 'UNAUTHENTICATED' });
      expect(shop.operations()).toHaveLength(0);

      const signedIn = await send(gateway.url, 'mutation { placeOrder(productId: "p1") { id } deleteProduct(id: "p1") }', { token: user });
      expect(signedIn.body.data).toEqual({ placeOrder: { id: 'order-p1' }, deleteProduct: null });
      expect(codesByPath(signedIn)).toEqual({ deleteProduct: 'FORBIDDEN' });
      expect(shop.count('Mutation.placeOrder')).toBe(1);
      expect(shop.count('Mutation.deleteProduct')).toBe(0);
    });
  });

  describe('what reaches an upstream', () => {
    it("carries none of the client's cookies, Authorization, X-Forwarded-* or extensions; forwards only the configured headers", async () => {
      const answer = await send(gateway.url, '{ myOrders { id } }', {
        token: user,
        headers: {
          cookie: '__Host-portcullis-access=stolen; other=1',
          'x-forwarded-for': '10.0.0.1',
          'x-forwarded-host': 'evil.example',
          'x-request-id': 'req-42',
          'accept-language': 'fr',
          'x-secret-internal': 'nope',
        },
        extra: { extensions: { headers: { authorization: 'Bearer smuggled' }, persistedQuery: undefined, note: 'client' } },
      });
      expect(answer.body.errors).toBeUndefined();
      const [received] = shop.operations();
      expect(received).toBeDefined();
      const headers = received?.headers ?? {};
      expect(headers['cookie']).toBeUndefined();
      expect(headers['x-forwarded-for']).toBeUndefined();
      expect(headers['x-forwarded-host']).toBeUndefined();
      expect(headers['x-secret-internal']).toBeUndefined();
      expect(headers['x-request-id']).toBe('req-42');
      expect(headers['accept-language']).toBe('fr');
      expect(headers['authorization']).toMatch(/^Bearer /);
      expect(headers['authorization']).not.toContain(user);
      expect(headers['authorization']).not.toContain('smuggled');
      expect(Object.keys(received?.body ?? {}).sort()).toEqual(['query', 'variables'].filter((key) => key in (received?.body ?? {})).sort());
      expect(received?.body).not.toHaveProperty('extensions');
    });

    it('sends a guest no Authorization at all', async () => {
      await send(gateway.url, '{ products { id } }', { headers: { authorization: 'Bearer not-a-token-at-all' } });
      const [received] = shop.operations();
      expect(received?.headers['authorization']).toBeUndefined();
    });

    it('sends a signed-in user an identity token for that upstream: header, claims, 60 s bound, signed with that upstream’s key', async () => {
      await send(gateway.url, '{ myOrders { id } posts { title } }', { token: user });
      const token = shop.operations()[0]?.headers['authorization']?.slice('Bearer '.length) ?? '';
      const header = decodeProtectedHeader(token);
      expect(header).toEqual({ alg: 'HS256', kid: expect.any(String), typ: IDENTITY_TOKEN_TYPE });
      const jwtSecret = gateway.config.tokens.jwtSecret;
      if (!jwtSecret) throw new Error('expected an HS256 secret');
      // The key npm run identity:key prints for shop verifies it; JWT_SECRET, the access-token key, does not.
      const secret = Buffer.from(await printableIdentityKey(jwtSecret, 'shop'), 'base64url');
      await expect(jwtVerify(token, jwtSecret.bytes(), { typ: IDENTITY_TOKEN_TYPE })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
      const { payload } = await jwtVerify(token, secret, { issuer: gateway.config.tokens.issuer, audience: 'shop', typ: IDENTITY_TOKEN_TYPE, algorithms: ['HS256'] });
      const access = decodeJwt(user);
      expect(payload).toEqual({
        iss: gateway.config.tokens.issuer,
        aud: 'shop',
        sub: access.sub,
        sid: access['sid'],
        roles: ['USER'],
        amr: ['pwd'],
        auth_time: access['auth_time'],
        jti: expect.any(String),
        iat: expect.any(Number),
        exp: expect.any(Number),
      });
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(60);
      expect(payload.exp ?? Infinity).toBeLessThanOrEqual(access.exp ?? 0);

      // The other upstream gets its own audience; neither token is valid for the other.
      const blogToken = blog.operations()[0]?.headers['authorization']?.slice('Bearer '.length) ?? '';
      expect(decodeJwt(blogToken).aud).toBe('blog');
      await expect(jwtVerify(blogToken, secret, { audience: 'shop', typ: IDENTITY_TOKEN_TYPE })).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });

    it('refuses an identity token presented to the gateway as an access token', async () => {
      await send(gateway.url, '{ myOrders { id } }', { token: user });
      const identity = shop.operations()[0]?.headers['authorization']?.slice('Bearer '.length) ?? '';
      expect(identity).not.toBe('');
      shop.reset();
      const answer = await send(gateway.url, '{ myOrders { id } me { id } }', { token: identity });
      expect(answer.body.errors?.every((error) => error.extensions?.['code'] === 'UNAUTHENTICATED' && error.extensions['reason'] === 'TOKEN_INVALID')).toBe(true);
      expect(shop.operations()).toHaveLength(0);
    });

    it('reuses one identity token per session and upstream instead of signing on every request', async () => {
      await send(gateway.url, '{ myOrders { id } }', { token: user });
      await send(gateway.url, '{ myOrders { id } }', { token: user });
      const [first, second] = shop.operations().map((request) => request.headers['authorization']);
      expect(first).toBeDefined();
      expect(second).toBe(first);
    });
  });

  describe('connections', () => {
    it('reuses one kept-alive connection to the upstream for consecutive requests', async () => {
      for (let i = 0; i < 3; i++) await send(gateway.url, '{ products { id } }');
      const ports = new Set(shop.operations().map((request) => request.remotePort));
      expect(shop.operations()).toHaveLength(3);
      expect(ports.size).toBe(1);
    });
  });

  describe('several sources in one operation', () => {
    it("answers two upstreams and the gateway's own field side by side", async () => {
      const answer = await send(gateway.url, '{ products { id } posts { title } me { email } }', { token: user });
      expect(answer.body).toEqual({ data: { products: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }], posts: [{ title: 'Hello' }], me: { email: 'user@example.com' } } });
      expect(shop.operations()).toHaveLength(1);
      expect(blog.operations()).toHaveLength(1);
    });

    it('denies per source in a mixed operation and sends nothing denied', async () => {
      const answer = await send(gateway.url, '{ products { id cost } drafts { title } me { email } }');
      expect(answer.body.data).toEqual(null);
      expect(codesByPath(answer)).toMatchObject({ drafts: 'UNAUTHENTICATED', me: 'UNAUTHENTICATED' });
      expect(blog.operations()).toHaveLength(0);
      expect(shop.count('Product.cost')).toBe(0);
    });
  });
});

describe('AUTHORIZATION_MODE=reject', () => {
  let shop: TestUpstream;
  let gateway: TestGateway;
  beforeAll(async () => {
    shop = await startUpstream({ service: true });
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}`, ROLES: 'EDITOR', AUTHORIZATION_MODE: 'reject' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
    await shop?.close();
  });

  it('refuses the whole operation when any field is denied, and sends nothing upstream', async () => {
    shop.reset();
    const answer = await send(gateway.url, '{ products { id name cost } }');
    expect(answer.body.data ?? null).toBeNull();
    expect(codesByPath(answer)).toEqual({ 'products.cost': 'UNAUTHENTICATED' });
    expect(shop.operations()).toHaveLength(0);
  });

  it('refuses a mutation with a denied field without sending any of it', async () => {
    shop.reset();
    const answer = await send(gateway.url, 'mutation { placeOrder(productId: "p1") { id } }');
    expect(codesByPath(answer)).toEqual({ placeOrder: 'UNAUTHENTICATED' });
    expect(shop.count('Mutation.placeOrder')).toBe(0);
    expect(shop.operations()).toHaveLength(0);
  });

  it('sends an operation with nothing denied', async () => {
    shop.reset();
    const answer = await send(gateway.url, '{ products { id } }');
    expect(answer.body.errors).toBeUndefined();
    expect(shop.operations()).toHaveLength(1);
  });
});
