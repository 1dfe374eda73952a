/**
 * A small API behind the gateway (a shop), as a team would write it: Apollo Server 5, an SDL that says who may
 * see what with `@authorized` / `@public` (the gateway enforces it at the edge), and resolvers that trust only
 * the identity the gateway signs for this upstream, verified with `portcullis/upstream`.
 *
 *   # a gateway with key pairs (JWT_ALGORITHM=EdDSA …): the verifier fetches its JWKS
 *   GATEWAY_URL=http://127.0.0.1:4000 PORT=4001 npx tsx examples/upstream-service.ts
 *   # an HS256 gateway: give the upstream its own identity key, never JWT_SECRET. Print it with the gateway's
 *   # configuration (UPSTREAMS=shop=http://127.0.0.1:4001/graphql …): npm run --silent identity:key -- --upstream shop
 *   IDENTITY_KEY=… PORT=4001 npx tsx examples/upstream-service.ts
 *   # then start the gateway with UPSTREAMS=shop=http://127.0.0.1:4001/graphql
 *
 * Options: --port N (or PORT), UPSTREAM_NAME (its name in UPSTREAMS, default shop), JWT_ISSUER (default portcullis).
 */
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { GraphQLError } from 'graphql';
import { createHandler as createSseHandler } from 'graphql-sse/lib/use/express';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { IdentityError, IdentityErrorCode, verifyIdentity, type GatewayKeys, type Identity, type IdentitySource } from '../src/upstream/index.js';

/** What the gateway reads (`{ _service { sdl } }`): the directives are the access rules, deny by default. */
export const UPSTREAM_SDL = /* GraphQL */ `
directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT
directive @public on FIELD_DEFINITION

type Query {
  "The catalogue: anyone, signed in or not."
  products(first: Int = 10): [Product!]! @public
  product(id: ID!): Product @public
  "Products and reviews matching a text: a union."
  search(text: String!): [SearchResult!]! @public
  "The caller's own orders."
  orders: [Order!]! @authorized
  "Administrators only."
  salesReport: SalesReport! @authorized(roles: ["ADMIN"])
}

type Mutation {
  placeOrder(productId: ID!, quantity: Int!): Order! @authorized
  "Writes a review; subscribers of reviewAdded for that product see it at once."
  addReview(productId: ID!, rating: Int!, text: String!): Review! @authorized
}

"Through the gateway over WebSocket (/graphql) or SSE (/graphql/stream); it ends the moment the session does."
type Subscription {
  "New reviews of one product, as they are written."
  reviewAdded(productId: ID!): Review! @authorized
  "Every order placed, as it is placed: administrators only."
  orderPlaced: Order! @authorized(roles: ["ADMIN"])
}

interface Node {
  id: ID!
}

type Product implements Node {
  id: ID!
  name: String!
  price: Float!
  "What the shop pays: administrators only."
  cost: Float @authorized(roles: ["ADMIN"])
  reviews: [Review!]!
}

type Review implements Node {
  id: ID!
  rating: Int!
  text: String!
}

union SearchResult = Product | Review

"Every field that returns an Order needs a signed-in user."
type Order implements Node @authorized {
  id: ID!
  userId: ID!
  items: [OrderItem!]!
  total: Float!
}

type OrderItem {
  product: Product!
  quantity: Int!
}

type SalesReport @authorized(roles: ["ADMIN"]) {
  orders: Int!
  revenue: Float!
}
`;

/** Not part of the SDL above: it describes the service, not the API, as in Apollo Federation subgraphs. */
const SERVICE_SDL = /* GraphQL */ `
type _Service {
  sdl: String!
}
extend type Query {
  _service: _Service!
}
`;

interface Product {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly cost: number;
  readonly reviews: ReadonlyArray<{ readonly id: string; readonly rating: number; readonly text: string }>;
}

interface Order {
  readonly id: string;
  readonly userId: string;
  readonly items: ReadonlyArray<{ readonly product: Product; readonly quantity: number }>;
  readonly total: number;
}

export interface UpstreamContext {
  /** Null for a guest: the gateway sends no Authorization header then. */
  readonly identity: Identity | null;
}

const PRODUCTS: readonly Product[] = Array.from({ length: 10 }, (_, i): Product => ({
  id: `p${i + 1}`,
  name: `Product ${i + 1}`,
  price: 10 + i,
  cost: 6 + i,
  reviews: Array.from({ length: 3 }, (__, j) => ({ id: `p${i + 1}-r${j + 1}`, rating: 1 + ((i + j) % 5), text: `Review ${j + 1} of product ${i + 1}` })),
}));

/** Defense in depth: the gateway already decided, but a request that reaches here without it is refused too. */
function requireIdentity(context: UpstreamContext, role?: string): Identity {
  if (!context.identity) throw new GraphQLError('You must be signed in to do this.', { extensions: { code: 'UNAUTHENTICATED' } });
  if (role !== undefined && !context.identity.roles.includes(role)) throw new GraphQLError('You are not allowed to do this.', { extensions: { code: 'FORBIDDEN' } });
  return context.identity;
}

export interface UpstreamService {
  /** http://127.0.0.1:PORT/graphql */
  readonly url: string;
  readonly port: number;
  /** How often each guarded or root field was resolved: tests check that denied fields never got here. */
  readonly resolved: Map<string, number>;
  /** What reached the WebSocket endpoint: upgrade headers, connection_init payloads, and subscriptions open now. */
  readonly live: { readonly upgrades: IncomingHttpHeaders[]; readonly inits: Array<Record<string, unknown>>; active: number; completed: number; sockets(): WebSocket[] };
  stop(): Promise<void>;
}

/**
 * A minimal in-process topic: each subscriber gets its own queue of what `pick` keeps, ended by `return()` (the
 * subscriber leaving). An iterator by hand, not an async generator: a generator waiting for its next event
 * would hold a `return()` back until that event came, and a quiet topic would never let its subscribers go.
 */
function createTopic<T>(): { publish(value: T): void; subscribe<R>(pick: (value: T) => R | undefined, onEnd: () => void): AsyncIterableIterator<R> } {
  const subscribers = new Set<(value: T) => void>();
  return {
    publish: (value) => subscribers.forEach((push) => push(value)),
    subscribe<R>(pick: (value: T) => R | undefined, onEnd: () => void): AsyncIterableIterator<R> {
      const pending: R[] = [];
      let waiting: ((result: IteratorResult<R>) => void) | undefined;
      const push = (event: T): void => {
        const value = pick(event);
        if (value === undefined) return;
        if (waiting) {
          const resolve = waiting;
          waiting = undefined;
          resolve({ value, done: false });
        } else pending.push(value);
      };
      subscribers.add(push);
      const iterator: AsyncIterableIterator<R> = {
        [Symbol.asyncIterator]: () => iterator,
        next: () => {
          const value = pending.shift();
          if (value !== undefined) return Promise.resolve({ value, done: false });
          return new Promise((resolve) => (waiting = resolve));
        },
        return: () => {
          if (subscribers.delete(push)) onEnd();
          waiting?.({ value: undefined, done: true });
          return Promise.resolve({ value: undefined, done: true });
        },
      };
      return iterator;
    },
  };
}

export async function startUpstreamService(options: {
  port?: number;
  /**
   * The gateway's base URL (key pairs, via its JWKS) or { secret: this upstream's identity key } (HS256). A function is asked
   * on each request: for a test that starts this upstream before the gateway whose URL it will need.
   */
  gateway: GatewayKeys | (() => GatewayKeys);
  /** This upstream's name in the gateway's UPSTREAMS. */
  audience?: string;
  issuer?: string;
  /** Tests inject the gateway's clock. */
  now?: () => number;
}): Promise<UpstreamService> {
  const audience = options.audience ?? 'shop';
  const resolved = new Map<string, number>();
  const count = (field: string): void => {
    resolved.set(field, (resolved.get(field) ?? 0) + 1);
  };
  const orders = new Map<string, Order[]>();
  const ordersOf = (userId: string): Order[] => {
    let list = orders.get(userId);
    if (!list) {
      // Two orders per user at first sight, so a new account has something to show.
      list = [1, 2].map((n) => {
        const product = PRODUCTS[n] as Product;
        return { id: `${userId}-o${n}`, userId, items: [{ product, quantity: n }], total: product.price * n };
      });
      orders.set(userId, list);
    }
    return list;
  };

  const live = { upgrades: [] as IncomingHttpHeaders[], inits: [] as Array<Record<string, unknown>>, active: 0, completed: 0, sockets: (): WebSocket[] => [...wss.clients] };
  type Review = Product['reviews'][number];
  const reviews = createTopic<{ productId: string; review: Review }>();
  const placed = createTopic<Order>();
  /** A subscription's source: counted while open, so tests see the gateway end it upstream. */
  const opened = <T>(source: AsyncIterableIterator<T>): AsyncIterableIterator<T> => {
    live.active += 1;
    return source;
  };
  const ended = (): void => {
    live.active -= 1;
    live.completed += 1;
  };

  const schema = makeExecutableSchema<UpstreamContext>({
    typeDefs: [UPSTREAM_SDL, SERVICE_SDL],
    resolvers: {
      Query: {
        products: (_: unknown, args: { first?: number | null }) => (count('Query.products'), PRODUCTS.slice(0, Math.max(0, args.first ?? 10))),
        product: (_: unknown, args: { id: string }) => (count('Query.product'), PRODUCTS.find((product) => product.id === args.id) ?? null),
        search: (_: unknown, args: { text: string }) => {
          count('Query.search');
          const text = args.text.toLowerCase();
          return [...PRODUCTS.filter((p) => p.name.toLowerCase().includes(text)), ...PRODUCTS.flatMap((p) => p.reviews).filter((r) => r.text.toLowerCase().includes(text))];
        },
        orders: (_: unknown, __: unknown, context: UpstreamContext) => (count('Query.orders'), ordersOf(requireIdentity(context).userId)),
        salesReport: (_: unknown, __: unknown, context: UpstreamContext) => {
          count('Query.salesReport');
          requireIdentity(context, 'ADMIN');
          const all = [...orders.values()].flat();
          return { orders: all.length, revenue: all.reduce((sum, order) => sum + order.total, 0) };
        },
        _service: () => ({ sdl: UPSTREAM_SDL }),
      },
      Mutation: {
        placeOrder: (_: unknown, args: { productId: string; quantity: number }, context: UpstreamContext) => {
          count('Mutation.placeOrder');
          const { userId } = requireIdentity(context);
          const product = PRODUCTS.find((p) => p.id === args.productId);
          if (!product) throw new GraphQLError('No such product.', { extensions: { code: 'NOT_FOUND' } });
          if (!Number.isInteger(args.quantity) || args.quantity < 1 || args.quantity > 100) {
            throw new GraphQLError('quantity must be from 1 to 100.', { extensions: { code: 'BAD_USER_INPUT' } });
          }
          const list = ordersOf(userId);
          const order: Order = { id: `${userId}-o${list.length + 1}`, userId, items: [{ product, quantity: args.quantity }], total: product.price * args.quantity };
          list.push(order);
          placed.publish(order);
          return order;
        },
        addReview: (_: unknown, args: { productId: string; rating: number; text: string }, context: UpstreamContext) => {
          count('Mutation.addReview');
          requireIdentity(context);
          const product = PRODUCTS.find((p) => p.id === args.productId);
          if (!product) throw new GraphQLError('No such product.', { extensions: { code: 'NOT_FOUND' } });
          const review: Review = { id: `${product.id}-r${Date.now().toString(36)}`, rating: Math.min(5, Math.max(1, Math.round(args.rating))), text: args.text.slice(0, 2000) };
          reviews.publish({ productId: product.id, review });
          return review;
        },
      },
      Subscription: {
        reviewAdded: {
          // The identity is checked when the subscription starts; the gateway ends it when the session ends.
          subscribe: (_: unknown, args: { productId: string }, context: UpstreamContext) => {
            count('Subscription.reviewAdded');
            requireIdentity(context);
            return opened(reviews.subscribe((event) => (event.productId === args.productId ? { reviewAdded: event.review } : undefined), ended));
          },
        },
        orderPlaced: {
          subscribe: (_: unknown, __: unknown, context: UpstreamContext) => {
            count('Subscription.orderPlaced');
            requireIdentity(context, 'ADMIN');
            return opened(placed.subscribe((order) => ({ orderPlaced: order }), ended));
          },
        },
      },
      Product: {
        cost: (product: Product, _: unknown, context: UpstreamContext) => (count('Product.cost'), requireIdentity(context, 'ADMIN'), product.cost),
      },
      SearchResult: {
        __resolveType: (value: Product | Product['reviews'][number]) => ('price' in value ? 'Product' : 'Review'),
      },
      Node: {
        __resolveType: (value: { id: string; price?: number; rating?: number; userId?: string }) =>
          value.price !== undefined ? 'Product' : value.rating !== undefined ? 'Review' : 'Order',
      },
    },
  });

  const server = new ApolloServer<UpstreamContext>({
    schema,
    // `_service` makes Apollo Server take this for a federation subgraph and offer inline traces; not wanted here.
    plugins: [ApolloServerPluginInlineTraceDisabled()],
    includeStacktraceInErrorResponses: false,
  });
  await server.start();
  let explained = false;
  const identityOf = async (headers: IdentitySource): Promise<Identity | null> => {
    try {
      const gateway = typeof options.gateway === 'function' ? options.gateway() : options.gateway;
      return await verifyIdentity(headers, { gateway, audience, ...(options.issuer !== undefined && { issuer: options.issuer }), ...(options.now && { now: options.now }) });
    } catch (error) {
      if (!(error instanceof IdentityError)) throw error;
      // A refusal caused by this service's own setup (it holds JWT_SECRET instead of its identity key) says so
      // in `cause`: worth one line in the service's log, never in an answer.
      if (error.cause instanceof TypeError && !explained) {
        explained = true;
        console.error(error.cause.message);
      }
      // The gateway's keys out of reach is not the caller's fault: 503, which the gateway reports as
      // UPSTREAM_UNAVAILABLE. Anything else about the token is a refusal, with its code for the logs.
      const unavailable = error.code === IdentityErrorCode.IDENTITY_KEYS_UNAVAILABLE;
      throw new GraphQLError(error.message, {
        extensions: { code: unavailable ? 'SERVICE_UNAVAILABLE' : 'UNAUTHENTICATED', reason: error.code, http: { status: unavailable ? 503 : 401 } },
      });
    }
  };
  const app = express();
  // Subscriptions over SSE too (graphql-sse, distinct connections), for a gateway with UPSTREAM_SUBSCRIPTIONS_SHOP=sse:
  // the identity token comes in the Authorization header of each stream and is verified when it starts.
  app.use(
    '/graphql/stream',
    express.json({ limit: '1mb' }),
    createSseHandler<UpstreamContext & Record<PropertyKey, unknown>>({
      schema,
      context: async (req) => {
        live.upgrades.push(req.raw.headers);
        return { identity: await identityOf(req.raw) };
      },
    }),
  );
  app.use('/graphql', express.json({ limit: '1mb' }), expressMiddleware(server, { context: async ({ req }): Promise<UpstreamContext> => ({ identity: await identityOf(req) }) }));
  const httpServer = createServer(app);
  // Subscriptions over graphql-ws on the same path. The gateway sends the identity token in connection_init
  // (`{ authorization: "Bearer …" }`); it is verified once, when the connection starts.
  const wss = new WebSocketServer({ server: httpServer, path: '/graphql' });
  wss.on('connection', (_socket, request) => live.upgrades.push(request.headers));
  const ws = useServer<Record<string, unknown> | undefined, { identity: Identity | null }>(
    {
      schema,
      async onConnect(ctx) {
        const params = ctx.connectionParams ?? {};
        live.inits.push(params);
        try {
          const authorization = params['authorization'];
          ctx.extra.identity = await identityOf(typeof authorization === 'string' ? { authorization } : {});
          return true;
        } catch {
          return false;
        }
      },
      context: (ctx): UpstreamContext => ({ identity: ctx.extra.identity ?? null }),
    },
    wss,
  );
  await new Promise<void>((resolve) => httpServer.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    port,
    resolved,
    live,
    async stop(): Promise<void> {
      await ws.dispose();
      await server.stop();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

/** `--port N` or PORT; nothing else on the command line. */
function portFromArgs(argv: readonly string[]): number {
  const at = argv.indexOf('--port');
  const text = at >= 0 ? argv[at + 1] : process.env['PORT'];
  const port = Number(text ?? 4001);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`The port must be a whole number from 0 to 65535, got ${String(text)}.`);
  return port;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const audience = process.env['UPSTREAM_NAME'] ?? 'shop';
  const identityKey = process.env['IDENTITY_KEY'];
  if (process.env['JWT_SECRET'] && !identityKey) {
    // The first releases told upstreams to hold JWT_SECRET, with which they could sign access tokens for anyone.
    console.error(`An upstream does not take JWT_SECRET: set IDENTITY_KEY to the key printed by npm run identity:key -- --upstream ${audience} on the gateway.`);
    process.exit(2);
  }
  const gateway: GatewayKeys = identityKey ? { secret: identityKey } : (process.env['GATEWAY_URL'] ?? 'http://127.0.0.1:4000');
  const service = await startUpstreamService({ port: portFromArgs(process.argv.slice(2)), gateway, audience, issuer: process.env['JWT_ISSUER'] ?? 'portcullis' });
  console.log(`upstream service on ${service.url} (verifying identity tokens ${identityKey ? 'with its identity key' : `from ${String(gateway)}`})`);
  const stop = (): void => void service.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
