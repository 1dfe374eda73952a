import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createPlanner, readRules } from '../../src/upstreams/authorization.js';
import { ROLES, SHOP_SDL } from './support.js';

const DECLARATIONS = /* GraphQL */ `
  directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT
  directive @public on FIELD_DEFINITION
`;

describe('readRules()', () => {
  it('reads field and type rules from an SDL that uses the directives without declaring them', () => {
    const { fields, types, problems } = readRules({ upstream: 'shop', sdl: parse(SHOP_SDL), knownRoles: ROLES });
    expect(problems).toEqual([]);
    expect(fields.get('Query.products')).toEqual({ kind: 'public' });
    expect(fields.get('Query.adminReport')).toEqual({ kind: 'authorized', roles: ['ADMIN'] });
    expect(fields.get('Mutation.placeOrder')).toEqual({ kind: 'authorized', roles: [] });
    expect(fields.has('Query.orders')).toBe(false);
    expect(types.get('Order')).toEqual({ kind: 'authorized', roles: ['USER', 'ADMIN'] });
    expect(types.get('Supplier')).toEqual({ kind: 'authorized', roles: [] });
  });

  it('reads the same rules when the SDL declares the directives, and that SDL builds into a valid schema', () => {
    const sdl = `${DECLARATIONS}\n${SHOP_SDL}`;
    expect(() => buildSchema(sdl)).not.toThrow();
    const declared = readRules({ upstream: 'shop', sdl: parse(sdl), knownRoles: ROLES });
    const undeclared = readRules({ upstream: 'shop', sdl: parse(SHOP_SDL), knownRoles: ROLES });
    expect(declared).toEqual(undeclared);
  });

  it('reads rules from type extensions and interfaces, roles as enum literals, and a single role without a list', () => {
    const sdl = parse(`
      type Query { a: A }
      type A { x: Int }
      extend type A @authorized(roles: ADMIN) { y: Int @authorized(roles: [EDITOR]) }
      interface Named { name: String @authorized(roles: "USER") }
    `);
    const { fields, types, problems } = readRules({ upstream: 'cms', sdl, knownRoles: ROLES });
    expect(problems).toEqual([]);
    expect(types.get('A')).toEqual({ kind: 'authorized', roles: ['ADMIN'] });
    expect(fields.get('A.y')).toEqual({ kind: 'authorized', roles: ['EDITOR'] });
    expect(fields.get('Named.name')).toEqual({ kind: 'authorized', roles: ['USER'] });
  });

  it('names the upstream, the place and the known roles for an unknown role, and suggests the right case', () => {
    const sdl = parse('type Query { a: Int @authorized(roles: ["EDITR"]) b: Int @authorized(roles: ["admin"]) }');
    const { fields, problems } = readRules({ upstream: 'cms', sdl, knownRoles: ['USER', 'ADMIN'] });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('Upstream "cms"');
    expect(problems[0]).toContain('Query.a');
    expect(problems[0]).toContain('"EDITR"');
    expect(problems[0]).toContain('Known roles: USER, ADMIN');
    expect(problems[0]).toContain('ROLES');
    expect(problems[1]).toContain('did you mean "ADMIN"');
    // A field whose rule could not be read is not silently left open: the start is refused on the problem.
    expect(fields.has('Query.a')).toBe(false);
  });

  it('reports every misuse at once, each naming the upstream', () => {
    const sdl = parse(`
      type Query {
        a: Int @authorized @public
        b: Int @authorized(role: "ADMIN")
        c: Int @authorized(roles: [1])
        d: Int @authorized(roles: [])
        e: Int @public(really: true)
      }
      type T @public { x: Int }
      interface I @authorized { x: Int }
      enum E @authorized { X }
    `);
    const { problems } = readRules({ upstream: 'shop', sdl, knownRoles: ROLES });
    expect(problems).toHaveLength(8);
    for (const problem of problems) expect(problem).toMatch(/^Upstream "shop": /);
    expect(problems.join('\n')).toMatch(/Query\.a carries @authorized and @public/);
    expect(problems.join('\n')).toMatch(/unknown argument "role"/);
    expect(problems.join('\n')).toMatch(/@public on type T/);
    expect(problems.join('\n')).toMatch(/interface I/);
  });

  it('records a rule on a root type for each of that SDL\'s own root fields, never as a rule of the composed root', () => {
    const { fields, types, rootTypeRules, problems } = readRules({
      upstream: 'admin',
      sdl: parse('type Query @authorized(roles: ["ADMIN"]) { purgeCache: Boolean stats: Int @public } extend type Query { flush: Boolean }'),
      knownRoles: ROLES,
    });
    expect(problems).toEqual([]);
    expect(types.has('Query')).toBe(false);
    expect(Object.fromEntries(rootTypeRules)).toEqual({
      'Query.purgeCache': { kind: 'authorized', roles: ['ADMIN'] },
      'Query.stats': { kind: 'authorized', roles: ['ADMIN'] },
      'Query.flush': { kind: 'authorized', roles: ['ADMIN'] },
    });
    expect(fields.get('Query.stats')).toEqual({ kind: 'public' });
  });

  it('reads the rules of renamed roots (schema { query: query_root }) under the composed root names', () => {
    const sdl = parse(`
      schema { query: query_root mutation: mutation_root }
      type query_root { report: String @authorized(roles: ["ADMIN"]) open: String @public }
      type mutation_root @authorized(roles: ["ADMIN"]) { purge: Boolean }
    `);
    const { fields, types, rootTypeRules, problems } = readRules({ upstream: 'hasura', sdl, knownRoles: ROLES });
    expect(problems).toEqual([]);
    expect(fields.get('Query.report')).toEqual({ kind: 'authorized', roles: ['ADMIN'] });
    expect(fields.get('Query.open')).toEqual({ kind: 'public' });
    expect(fields.has('query_root.report')).toBe(false);
    expect(Object.fromEntries(rootTypeRules)).toEqual({ 'Mutation.purge': { kind: 'authorized', roles: ['ADMIN'] } });
    expect(types.has('mutation_root')).toBe(false);
  });

  it('refuses a type named Query, Mutation or Subscription that is not that root, once per name, extensions included', () => {
    const sdl = parse(`
      schema { query: query_root mutation: Mutation }
      type query_root { account: Query }
      type Query { notTheRoot: String @public }
      extend type Query { more: String }
      type Mutation { ok: Boolean }
      type Subscription { ticks: Int }
    `);
    const { problems } = readRules({ upstream: 'hasura', sdl, knownRoles: ROLES });
    expect(problems).toHaveLength(2);
    expect(problems.find((problem) => problem.includes('type Query '))).toMatch(/^Upstream "hasura": /);
    expect(problems.some((problem) => problem.includes('type Subscription '))).toBe(true);
    expect(problems.some((problem) => problem.includes('type Mutation '))).toBe(false);
  });

  it('refuses @authorized and @public on arguments, input fields, enum values and directive arguments, naming each coordinate', () => {
    const sdl = parse(`
      type Query { products(limit: Int @authorized(roles: ["ADMIN"])): [String] @public }
      interface Named { name(locale: String @public): String }
      input Filter { owner: String @authorized }
      extend input Filter { tenant: String @public }
      enum Order { NEWEST OLDEST @authorized }
      directive @cost(weight: Int @authorized) on FIELD_DEFINITION
    `);
    const { problems } = readRules({ upstream: 'shop', sdl, knownRoles: ROLES });
    const text = problems.join('\n');
    expect(problems).toHaveLength(6);
    for (const coordinate of ['Query.products(limit:)', 'Named.name(locale:)', 'Filter.owner', 'Filter.tenant', 'Order.OLDEST', '@cost(weight:)']) {
      expect(text).toContain(` on ${coordinate} protects nothing`);
    }
  });

  it('treats roles: null as no roles', () => {
    const { fields, problems } = readRules({ upstream: 'shop', sdl: parse('type Query { a: Int @authorized(roles: null) }'), knownRoles: ROLES });
    expect(problems).toEqual([]);
    expect(fields.get('Query.a')).toEqual({ kind: 'authorized', roles: [] });
  });
});

describe('rules in the planner', () => {
  it('applies an interface field\'s rule to the field on every implementing type', () => {
    const sdl = `
      type Query { people: [Person!]! @public }
      interface Person { name: String! email: String @authorized(roles: ["ADMIN"]) }
      type Staff implements Person { name: String! email: String }
    `;
    const { fields, types, rootTypeRules } = readRules({ upstream: 'hr', sdl: parse(sdl), knownRoles: ROLES });
    const schema = buildSchema(sdl, { assumeValidSDL: true });
    const planner = createPlanner({ schema, rules: { fields, types, rootTypeRules, owned: new Set(['Query.people', 'Person', 'Staff']) } });
    const decision = planner.authorize({ document: parse('{ people { ... on Staff { name email } } }'), variables: undefined, caller: { kind: 'user', roles: ['USER'] } });
    expect(decision.denied).toEqual([{ code: 'FORBIDDEN', path: ['people', 'email'], coordinate: 'Staff.email' }]);
  });

  it('keeps a @public root field open to guests even when it returns a type that is not authorized, but not one returning an authorized type', () => {
    const sdl = 'type Query { open: Box @public closed: Safe @public } type Box { v: Int } type Safe @authorized { v: Int }';
    const { fields, types, rootTypeRules } = readRules({ upstream: 'x', sdl: parse(sdl), knownRoles: ROLES });
    const planner = createPlanner({ schema: buildSchema(sdl, { assumeValidSDL: true }), rules: { fields, types, rootTypeRules, owned: new Set(['Query.open', 'Query.closed']) } });
    const decision = planner.authorize({ document: parse('{ open { v } closed { v } }'), variables: undefined, caller: { kind: 'guest' } });
    expect(decision.denied.map((denied) => denied.path)).toEqual([['closed']]);
  });
});
