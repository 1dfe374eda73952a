import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { IResolvers } from '@graphql-tools/utils';
import { defaultFieldResolver, execute, isObjectType, parse, validate, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';

/** How the test upstream answers: as a GraphQL server, or as a broken one. */
export type UpstreamBehaviour = 'ok' | 'slow' | 'stalled-body' | '5xx' | 'html' | 'bad-json' | 'no-data' | 'cut-off';

export interface ReceivedRequest {
  /** The gateway's end of the connection: the same port on two requests means a reused (kept-alive) connection. */
  readonly remotePort: number | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

export interface TestUpstream {
  readonly url: string;
  /** How often each `Type.field` was resolved, across every request. */
  readonly resolved: Map<string, number>;
  /** Every request received, in order (schema loading included). */
  readonly requests: ReceivedRequest[];
  behaviour: UpstreamBehaviour;
  /** With `service`: what `{ _service { sdl } }` answers from now on (an SDL, GraphQL errors, or an empty sdl). */
  serviceAnswer: 'sdl' | 'errors' | 'empty';
  /** Replaces the SDL (and what `_service` answers) from now on. */
  setSdl(sdl: string): void;
  count(coordinate: string): number;
  /** Requests that carried an operation other than the gateway's schema loading. */
  operations(): ReceivedRequest[];
  reset(): void;
  close(): Promise<void>;
  /** Listens again on the same port after close(). */
  reopen(): Promise<void>;
}

export const DIRECTIVES = `directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT
directive @public on FIELD_DEFINITION
`;

/** The shop upstream of these tests: public, signed-in, role-guarded, nested, union, interface and mutation fields. */
export const SHOP_SDL = `${DIRECTIVES}
type Query {
  products: [Product!]! @public
  product(id: ID!): Product @public
  myOrders: [Order!]!
  adminReport: String @authorized(roles: ["ADMIN"])
  editorNote: String @authorized(roles: ["EDITOR"])
  search(term: String!): [SearchResult!]! @public
  broken: String @public
  failing: String @public
  missing: String @public
}

type Mutation {
  placeOrder(productId: ID!): Order!
  deleteProduct(id: ID!): Boolean @authorized(roles: ["ADMIN"])
}

interface Node {
  id: ID!
}

type Product implements Node {
  id: ID!
  name: String!
  price: Int!
  cost: Int @authorized(roles: ["ADMIN"])
  reviews: [Review!]!
}

type Review implements Node {
  id: ID!
  text: String!
}

type Order {
  id: ID!
  total: Int!
}

union SearchResult = Product | Review
`;

const PRODUCTS = Array.from({ length: 3 }, (_, index) => ({
  id: `p${index + 1}`,
  name: `Product ${index + 1}`,
  price: 100 * (index + 1),
  cost: 60 * (index + 1),
  reviews: [{ id: `r${index + 1}`, text: `Review of ${index + 1}` }],
}));

export const SHOP_RESOLVERS: IResolvers = {
  Query: {
    products: () => PRODUCTS,
    product: (_: unknown, args: { id: string }) => PRODUCTS.find((product) => product.id === args.id) ?? null,
    myOrders: () => [{ id: 'o1', total: 100 }],
    adminReport: () => 'all good',
    editorNote: () => 'an editor note',
    search: () => [PRODUCTS[0], PRODUCTS[0]?.reviews[0]],
    broken: () => {
      throw Object.assign(new Error('stock database on fire'), { extensions: { code: 'SHOP_INTERNAL' } });
    },
    failing: () => {
      throw new Error('no such thing here');
    },
    missing: () => {
      throw Object.assign(new Error('No such product.'), { extensions: { code: 'NOT_FOUND' } });
    },
  },
  Mutation: {
    placeOrder: (_: unknown, args: { productId: string }) => ({ id: `order-${args.productId}`, total: 1 }),
    deleteProduct: () => true,
  },
  SearchResult: { __resolveType: (value: { name?: string }) => (value.name ? 'Product' : 'Review') },
  Node: { __resolveType: (value: { name?: string }) => (value.name ? 'Product' : 'Review') },
};

const SERVICE_EXTENSION = `
type _Service { sdl: String! }
extend type Query { _service: _Service! }
`;

/**
 * A real GraphQL server over node:http and graphql-js, on a free loopback port. It answers `{ _service { sdl } }`
 * when `service` is true (else only introspection), counts every field it resolves and records every request.
 */
export async function startUpstream(
  options: { sdl?: string; service?: boolean; resolvers?: IResolvers; slowMs?: number; /** What `_service` answers, if not `sdl`. */ advertisedSdl?: string } = {},
): Promise<TestUpstream> {
  let sdl = options.sdl ?? SHOP_SDL;
  const resolvers = options.resolvers ?? SHOP_RESOLVERS;
  const resolved = new Map<string, number>();
  const requests: ReceivedRequest[] = [];
  let schema: GraphQLSchema;
  const build = (): void => {
    schema = makeExecutableSchema({
      typeDefs: options.service ? [sdl, SERVICE_EXTENSION] : sdl,
      resolvers: options.service ? { ...resolvers, Query: { ...(resolvers['Query'] as object), _service: () => serviceAnswer() } } : resolvers,
    });
    // Every field counts what it resolves, with its own resolver or the default one.
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        const resolve: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
        field.resolve = (source, args, context, info) => {
          const coordinate = `${info.parentType.name}.${info.fieldName}`;
          resolved.set(coordinate, (resolved.get(coordinate) ?? 0) + 1);
          return resolve(source, args, context, info);
        };
      }
    }
  };
  const serviceAnswer = (): { sdl: string } => {
    if (upstream.serviceAnswer === 'errors') throw new Error('_service is unavailable');
    return { sdl: upstream.serviceAnswer === 'empty' ? '' : (options.advertisedSdl ?? sdl) };
  };
  build();

  const upstream: TestUpstream = {
    url: '',
    resolved,
    requests,
    behaviour: 'ok',
    serviceAnswer: 'sdl',
    setSdl(next: string): void {
      sdl = next;
      build();
    },
    count: (coordinate) => resolved.get(coordinate) ?? 0,
    operations: () => requests.filter((request) => !/_service|__schema/.test(String(request.body['query']))),
    reset(): void {
      resolved.clear();
      requests.length = 0;
    },
    close: async () => {},
    reopen: async () => {},
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        requests.push({ remotePort: req.socket.remotePort, headers: req.headers, body });
        const loading = /_service|__schema/.test(String(body['query']));
        if (!loading && upstream.behaviour === '5xx') {
          res.writeHead(502, { 'content-type': 'application/json' }).end('{"errors":[{"message":"bad gateway"}]}');
          return;
        }
        if (!loading && upstream.behaviour === 'html') {
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Login page</body></html>');
          return;
        }
        if (!loading && upstream.behaviour === 'bad-json') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"product":{"name":"Prod');
          return;
        }
        if (!loading && upstream.behaviour === 'no-data') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"extensions":{}}');
          return;
        }
        if (!loading && upstream.behaviour === 'cut-off') {
          // Half the announced body, then the connection drops.
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
          res.write('{"data":{"product":', () => res.socket?.destroy());
          return;
        }
        if (!loading && upstream.behaviour === 'stalled-body') {
          // Headers at once, then half a body, then nothing: only a timeout on the whole call ends it.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"data":{"product":');
          setTimeout(() => res.end('null}}'), options.slowMs ?? 1500).unref();
          return;
        }
        if (!loading && upstream.behaviour === 'slow') await new Promise((resolve) => setTimeout(resolve, options.slowMs ?? 1500));
        let document;
        try {
          document = parse(String(body['query']));
        } catch (error) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: (error as Error).message }] }));
          return;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: errors.map((error) => ({ message: error.message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) }));
          return;
        }
        const result = await execute({
          schema,
          document,
          variableValues: body['variables'] as Record<string, unknown> | undefined,
          operationName: body['operationName'] as string | undefined,
          contextValue: { headers: req.headers },
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      })();
    });
  });
  let port = 0;
  const listen = async (): Promise<void> => {
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  Object.assign(upstream, {
    url: `http://127.0.0.1:${port}/graphql`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    reopen: listen,
  });
  return upstream;
}

export interface GatewayAnswer {
  readonly status: number;
  readonly body: {
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
  };
}

/** POSTs one operation to the gateway as a client would, with whatever extra headers and body members it likes. */
export async function send(
  gatewayUrl: string,
  query: string,
  options: { token?: string; variables?: Record<string, unknown>; headers?: Record<string, string>; extra?: Record<string, unknown>; operationName?: string } = {},
): Promise<GatewayAnswer> {
  const response = await fetch(`${gatewayUrl}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.token && { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables: options.variables, operationName: options.operationName, ...options.extra }),
  });
  return { status: response.status, body: (await response.json()) as GatewayAnswer['body'] };
}

export const PASSWORD = 'correct horse battery staple';

/** Creates a user with these roles and signs in; returns the access token (body delivery). */
export async function signIn(gatewayUrl: string, createUser: (user: { email: string; password: string; roles?: string[] }) => Promise<unknown>, email: string, roles: string[]): Promise<string> {
  await createUser({ email, password: PASSWORD, roles });
  const answer = await send(gatewayUrl, 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
    variables: { email, password: PASSWORD },
  });
  const token = (answer.body.data?.['login'] as { accessToken?: string } | undefined)?.accessToken;
  if (!token) throw new Error(`login failed: ${JSON.stringify(answer.body)}`);
  return token;
}

/** The codes of an answer's errors by path, for assertions that do not depend on order. */
export function codesByPath(answer: GatewayAnswer): Record<string, unknown> {
  return Object.fromEntries((answer.body.errors ?? []).map((error) => [(error.path ?? []).join('.'), error.extensions?.['code']]));
}

/** Polls `check` every 50 ms until it holds or `ms` pass. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
