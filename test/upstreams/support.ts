import {
  buildASTSchema,
  defaultFieldResolver,
  execute,
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { expect } from 'vitest';
import { createFormatError } from '../../src/graphql/format-error.js';
import { createLogger } from '../../src/logger.js';
import {
  createPlanner,
  readRules,
  type AuthorizationDecision,
  type Caller,
  type Planner,
} from '../../src/upstreams/authorization.js';

/**
 * The "shop" upstream's SDL. It uses the directives without declaring them, as many frameworks print SDL.
 * Nullability is chosen so that tests can see both a denied field answered null in place and one that nulls
 * its parent.
 */
export const SHOP_SDL = /* GraphQL */ `
  type Query {
    products: [Product!]! @public
    product(id: ID!): Product @public
    orders: [Order!]
    recommendations: [Product!]
    order(id: ID!): Order!
    adminReport: String @authorized(roles: ["ADMIN"])
    search(term: String!): [SearchResult]! @public
    node(id: ID!): Node @public
  }
  type Mutation {
    placeOrder(productId: ID!): Order @authorized
    subscribe(email: String!): Boolean @public
  }
  interface Node { id: ID! }
  type Product implements Node {
    id: ID!
    name: String!
    cost: Int @authorized(roles: ["ADMIN", "EDITOR"])
    supplier: Supplier!
    reviews: [Review!]!
  }
  type Supplier @authorized { name: String! }
  type Review { id: ID! body: String! author: String @authorized }
  type Order implements Node @authorized(roles: ["USER", "ADMIN"]) {
    id: ID!
    total: Int!
    trackingCode: String @public
    internalNote: String @authorized(roles: ["SUPPORT"])
    items: [Product!]!
  }
  union SearchResult = Product | Order
`;

/** The gateway's own part of the composed schema: its resolvers decide, not the planner. */
export const GATEWAY_SDL = /* GraphQL */ `
  extend type Query { me: Account }
  extend type Mutation { logout: Boolean! }
  type Account { id: ID! email: String! }
`;

export const ROLES = ['USER', 'ADMIN', 'EDITOR', 'SUPPORT'] as const;

export const guest: Caller = { kind: 'guest' };
export const user = (...roles: string[]): Caller => ({ kind: 'user', roles });

const lamp = { __typename: 'Product', id: 'p1', name: 'Lamp', cost: 4, supplier: { name: 'Acme' }, reviews: [{ id: 'r1', body: 'Bright', author: 'ann' }] };
const desk = { __typename: 'Product', id: 'p2', name: 'Desk', cost: 90, supplier: { name: 'Oak & Co' }, reviews: [] };
const order = { __typename: 'Order', id: 'o1', total: 94, trackingCode: 'TRK-1', internalNote: 'gift wrap', items: [lamp, desk] };
const byId: Record<string, unknown> = { p1: lamp, p2: desk, o1: order };

/** What the upstream (and the gateway's own resolvers, for `me`/`logout`) answer. */
export const rootValue = {
  products: [lamp, desk],
  product: ({ id }: { id: string }) => byId[id] ?? null,
  orders: [order],
  recommendations: [desk],
  order: ({ id }: { id: string }) => byId[id],
  adminReport: 'all good',
  search: [lamp, order],
  node: ({ id }: { id: string }) => byId[id] ?? null,
  placeOrder: () => order,
  subscribe: true,
  me: { id: 'a1', email: 'ann@example.com' },
  logout: true,
};

export interface Fixture {
  readonly composed: GraphQLSchema;
  readonly planner: Planner;
  readonly problems: string[];
}

export function fixture(options: { cacheSize?: number; cacheBytes?: number } = {}): Fixture {
  const sdl = parse(SHOP_SDL);
  const { fields, types, rootTypeRules, problems } = readRules({ upstream: 'shop', sdl, knownRoles: ROLES });
  const composed = buildASTSchema(parse(`${SHOP_SDL}\n${GATEWAY_SDL}`), { assumeValidSDL: true });
  const owned = new Set<string>([
    ...['products', 'product', 'orders', 'recommendations', 'order', 'adminReport', 'search', 'node'].map((name) => `Query.${name}`),
    'Mutation.placeOrder',
    'Mutation.subscribe',
    'Product', 'Supplier', 'Review', 'Order', 'Node', 'SearchResult',
  ]);
  const planner = createPlanner({ schema: composed, rules: { fields, types, rootTypeRules, owned }, ...options });
  return { composed, planner, problems };
}

export interface Answer {
  readonly decision: AuthorizationDecision;
  /** Coordinates the upstream resolved ('Type.field'): what a denied field must never appear in. */
  readonly resolved: readonly string[];
  /** Whether anything was sent upstream. */
  readonly called: boolean;
  readonly data: Record<string, unknown> | null;
  /** The gateway's errors as a client sees them (through the real formatError). */
  readonly errors: readonly GraphQLFormattedError[];
  readonly paths: readonly (readonly (string | number)[])[];
}

const formatError = createFormatError(createLogger('silent'));

/**
 * One request the way the gateway's fast path runs it: authorize, send the pruned document to the upstream
 * (here graphql-js executing it over fixed data, counting every field it resolves), complete the answer.
 * Also checks what every test relies on: the original and the pruned documents are valid for the schema.
 */
export function send(f: Fixture, source: string | DocumentNode, caller: Caller, variables?: Record<string, unknown>): Answer {
  const document = typeof source === 'string' ? parse(source) : source;
  expect(validate(f.composed, document)).toEqual([]);
  const decision = f.planner.authorize({ document, variables, caller });
  expect(validate(f.composed, decision.document)).toEqual([]);
  const resolved: string[] = [];
  let data: Record<string, unknown> | null = null;
  if (!decision.nothingAllowed) {
    const upstream = execute({
      schema: f.composed,
      document: decision.document,
      variableValues: variables,
      rootValue,
      fieldResolver: (value, args, context, info) => {
        resolved.push(`${info.parentType.name}.${info.fieldName}`);
        return defaultFieldResolver(value, args, context, info);
      },
    });
    if ('then' in upstream) throw new Error('the test upstream is synchronous');
    expect(upstream.errors ?? []).toEqual([]);
    data = (upstream.data ?? null) as Record<string, unknown> | null;
  }
  const completed = f.planner.complete({ document, variables, caller, data });
  for (const error of completed.errors) expect(error).toBeInstanceOf(GraphQLError);
  const errors = completed.errors.map((error) => formatError(error.toJSON(), error));
  return { decision, resolved, called: !decision.nothingAllowed, data: completed.data, errors, paths: errors.map((error) => error.path ?? []) };
}
