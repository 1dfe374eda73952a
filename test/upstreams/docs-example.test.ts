import { buildSchema, defaultFieldResolver, execute, parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createPlanner, readRules, type Caller } from '../../src/upstreams/authorization.js';

/** The example in docs/gateway.md ("Authorization at the edge"), so the documentation cannot drift from the code. */
const SDL = /* GraphQL */ `
  type Query {
    products: [Product!]! @public
    orders: [Order!]
  }
  type Product { id: ID! name: String! cost: Int @authorized(roles: ["ADMIN", "EDITOR"]) }
  type Order @authorized(roles: ["USER"]) { id: ID! total: Int! }
`;

describe('the documented example', () => {
  const schema = buildSchema(SDL, { assumeValidSDL: true });
  const { fields, types, rootTypeRules } = readRules({ upstream: 'shop', sdl: parse(SDL), knownRoles: ['USER', 'ADMIN', 'EDITOR'] });
  const planner = createPlanner({ schema, rules: { fields, types, rootTypeRules, owned: new Set(['Query.products', 'Query.orders', 'Product', 'Order']) } });
  const rootValue = { products: [{ id: 'p1', name: 'Lamp', cost: 4 }, { id: 'p2', name: 'Desk', cost: 90 }], orders: [{ id: 'o1', total: 94 }] };
  const document = parse('{ products { name cost } orders { id } }');

  function run(caller: Caller): { sent: string; data: unknown; errors: unknown[] } {
    const decision = planner.authorize({ document, variables: undefined, caller });
    const upstream = execute({ schema, document: decision.document, rootValue, fieldResolver: defaultFieldResolver });
    if ('then' in upstream) throw new Error('synchronous');
    const { data, errors } = planner.complete({ document, variables: undefined, caller, data: upstream.data as Record<string, unknown> });
    return { sent: print(decision.document), data, errors: errors.map((error) => error.toJSON()) };
  }

  it('answers a guest as documented', () => {
    const answer = run({ kind: 'guest' });
    expect(answer.sent.replace(/\s+/g, ' ')).toBe('{ products { name } }');
    expect(answer.data).toEqual({ products: [{ name: 'Lamp', cost: null }, { name: 'Desk', cost: null }], orders: null });
    expect(answer.errors).toEqual([
      { message: 'You must be signed in to do this.', locations: [{ line: 1, column: 19 }], path: ['products', 0, 'cost'] },
      { message: 'You must be signed in to do this.', locations: [{ line: 1, column: 19 }], path: ['products', 1, 'cost'] },
      { message: 'You must be signed in to do this.', locations: [{ line: 1, column: 26 }], path: ['orders'] },
    ]);
  });

  it('answers USER and USER+EDITOR as documented', () => {
    const plain = run({ kind: 'user', roles: ['USER'] });
    expect(plain.data).toEqual({ products: [{ name: 'Lamp', cost: null }, { name: 'Desk', cost: null }], orders: [{ id: 'o1' }] });
    expect(plain.errors).toHaveLength(2);
    const editor = run({ kind: 'user', roles: ['USER', 'EDITOR'] });
    expect(editor.errors).toEqual([]);
    expect(planner.authorize({ document, variables: undefined, caller: { kind: 'user', roles: ['USER', 'EDITOR'] } }).document).toBe(document);
  });
});
