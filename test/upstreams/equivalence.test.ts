import { defaultFieldResolver, execute, getNamedType, isObjectType, parse, type GraphQLObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { readRules, type Caller, type FieldRule } from '../../src/upstreams/authorization.js';
import { fixture, guest, ROLES, rootValue, send, SHOP_SDL, user } from './support.js';

/**
 * An oracle written from the documented rules, independently of the planner: execute the client's document over
 * all the data, denying each field where it is resolved. What the planner answers (prune, send, complete) must
 * be exactly this, for every query and caller below, while the upstream never resolves a denied field.
 */
const { fields, types } = readRules({ upstream: 'shop', sdl: parse(SHOP_SDL), knownRoles: ROLES });

function clause(rule: FieldRule | undefined): readonly string[] | undefined {
  return rule?.kind === 'authorized' ? rule.roles : undefined;
}

function deniedCode(parent: GraphQLObjectType, field: string, caller: Caller): string | undefined {
  const root = ['Query', 'Mutation'].includes(parent.name);
  const own = fields.get(`${parent.name}.${field}`);
  const returned = getNamedType(parent.getFields()[field]!.type);
  const clauses = [
    root && own === undefined ? [] : clause(own),
    ...parent.getInterfaces().map((iface) => clause(fields.get(`${iface.name}.${field}`))),
    clause(types.get(parent.name)),
    isObjectType(returned) ? clause(types.get(returned.name)) : undefined,
  ].filter((found): found is readonly string[] => found !== undefined);
  if (clauses.length === 0) return undefined;
  if (caller.kind === 'unavailable') return 'SERVICE_UNAVAILABLE';
  if (caller.kind !== 'user') return 'UNAUTHENTICATED';
  return clauses.every((roles) => roles.length === 0 || roles.some((role) => caller.roles.includes(role))) ? undefined : 'FORBIDDEN';
}

function oracle(source: string, caller: Caller, variables?: Record<string, unknown>): { data: unknown; denied: unknown[] } {
  const f = fixture();
  const result = execute({
    schema: f.composed,
    document: parse(source),
    variableValues: variables,
    rootValue,
    fieldResolver: (value, args, context, info) => {
      // The gateway's own fields (and all under them) are its resolvers' business.
      const rootField = rootFieldOf(info.path, info);
      if (rootField !== 'me' && rootField !== 'logout') {
        const code = deniedCode(info.parentType, info.fieldName, caller);
        if (code) throw new Error(code);
      }
      return defaultFieldResolver(value, args, context, info);
    },
  });
  if ('then' in result) throw new Error('synchronous');
  return { data: result.data ?? null, denied: (result.errors ?? []).map((error) => [error.path, error.message]) };
}

/** The field name at the root of a path (the response key may be an alias). */
function rootFieldOf(path: { prev: unknown; key: string | number }, info: { operation: { selectionSet: { selections: readonly unknown[] } } }): string {
  let root = path as { prev: unknown; key: string | number };
  while (root.prev) root = root.prev as typeof root;
  for (const selection of info.operation.selectionSet.selections as { kind: string; alias?: { value: string }; name: { value: string } }[]) {
    if (selection.kind === 'Field' && (selection.alias?.value ?? selection.name.value) === root.key) return selection.name.value;
  }
  return String(root.key);
}

const QUERIES: readonly [string, Record<string, unknown>?][] = [
  ['{ products { id name cost supplier { name } reviews { body author } } }'],
  ['{ p: product(id: "p1") { id cost supplier { name } } recommendations { name } }'],
  ['{ orders { id total trackingCode internalNote items { name cost } } }'],
  ['{ search(term: "x") { __typename ... on Product { name cost } ... on Order { id total trackingCode internalNote } } }'],
  ['{ a: node(id: "p1") { id ... on Order { total } } b: node(id: "o1") { id ... on Product { name } ... on Order { total items { id cost } } } }'],
  ['{ products { ...P } search(term: "x") { ...P ... on Order { ...O } } } fragment P on Product { id cost } fragment O on Order { id internalNote }'],
  ['{ adminReport me { email } products { id } }'],
  ['query Q($c: Boolean!, $s: Boolean!) { products { id cost @include(if: $c) supplier @skip(if: $s) { name } } }', { c: true, s: false }],
  ['query Q($c: Boolean!, $s: Boolean!) { products { id cost @include(if: $c) supplier @skip(if: $s) { name } } }', { c: false, s: true }],
  ['mutation { placeOrder(productId: "p1") { id total } subscribe(email: "a@b.c") }'],
  ['{ order(id: "o1") { id } }'],
];

const CALLERS: readonly Caller[] = [
  guest,
  { kind: 'rejected', reason: 'TOKEN_EXPIRED' },
  { kind: 'unavailable' },
  user(),
  user('USER'),
  user('EDITOR'),
  user('USER', 'SUPPORT'),
  user('ADMIN', 'SUPPORT', 'EDITOR'),
];

describe('planner against an oracle of the documented rules', () => {
  const f = fixture();
  for (const [source, variables] of QUERIES) {
    it(`answers ${source.slice(0, 70)}${variables ? ` ${JSON.stringify(variables)}` : ''} as the oracle does, for every caller`, () => {
      for (const caller of CALLERS) {
        const expected = oracle(source, caller, variables);
        const answer = send(f, source, caller, variables);
        const got = { data: answer.data, denied: answer.errors.map((error) => [error.path, error.extensions?.['code']]) };
        expect(got, JSON.stringify(caller)).toEqual(expected);
        for (const coordinate of answer.resolved) {
          const [typeName, fieldName] = coordinate.split('.') as [string, string];
          const type = f.composed.getType(typeName) as GraphQLObjectType;
          if (typeName === 'Account' || ['Query.me', 'Mutation.logout'].includes(coordinate)) continue;
          expect(deniedCode(type, fieldName, caller), `${coordinate} reached the upstream for ${JSON.stringify(caller)}`).toBeUndefined();
        }
      }
    });
  }
});
