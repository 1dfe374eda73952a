import { parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import type { Viewer } from '../../src/auth/auth-service.js';
import type { Caller } from '../../src/upstreams/authorization.js';
import { fixture, guest, send, user } from './support.js';

const f = fixture();

describe('planner: root fields', () => {
  it('answers a @public root field to a guest and denies an undecorated one (deny by default) with UNAUTHENTICATED', () => {
    const answer = send(f, '{ products { id } recommendations { id } }', guest);
    expect(answer.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }], recommendations: null });
    expect(answer.errors.map((error) => error.extensions)).toEqual([{ code: 'UNAUTHENTICATED' }]);
    expect(answer.paths).toEqual([['recommendations']]);
    expect(answer.resolved).not.toContain('Query.recommendations');
    expect(answer.decision.deniedCount).toBe(1);
  });

  it('answers the undecorated root field to any signed-in user, sending the document unchanged', () => {
    const document = parse('{ products { id } recommendations { id } }');
    const answer = send(f, document, user('EDITOR'));
    expect(answer.errors).toEqual([]);
    expect(answer.data).toEqual({ products: [{ id: 'p1' }, { id: 'p2' }], recommendations: [{ id: 'p2' }] });
    expect(answer.decision.deniedCount).toBe(0);
    expect(answer.decision.document).toBe(document);
  });

  it('adds the rule of the returned object type to an undecorated root field', () => {
    expect(send(f, '{ orders { id } }', user('EDITOR')).errors.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN']);
    expect(send(f, '{ orders { id } }', user('USER')).data).toEqual({ orders: [{ id: 'o1' }] });
  });

  it('answers FORBIDDEN to a user without any of the roles and the data to one holding a role', () => {
    const forbidden = send(f, '{ adminReport products { name } }', user('USER', 'EDITOR'));
    expect(forbidden.data).toEqual({ adminReport: null, products: [{ name: 'Lamp' }, { name: 'Desk' }] });
    expect(forbidden.errors.map((error) => [error.path, error.extensions])).toEqual([[['adminReport'], { code: 'FORBIDDEN' }]]);
    expect(forbidden.resolved).not.toContain('Query.adminReport');
    expect(send(f, '{ adminReport }', user('ADMIN')).data).toEqual({ adminReport: 'all good' });
  });

  it('leaves the gateway\'s own root fields to their resolvers, in the document sent and in the answer', () => {
    const document = parse('{ me { email } orders { id } products { id } }');
    const decision = f.planner.authorize({ document, variables: undefined, caller: guest });
    expect(decision.deniedCount).toBe(1);
    expect(print(decision.document)).toContain('me {');
    const answer = send(f, document, guest);
    expect(answer.data).toEqual({ me: { email: 'ann@example.com' }, orders: null, products: [{ id: 'p1' }, { id: 'p2' }] });
    expect(answer.paths).toEqual([['orders']]);
    // With only the gateway's own fields left, there is nothing for the upstream.
    expect(f.planner.authorize({ document: parse('{ me { email } orders { id } }'), variables: undefined, caller: guest }).nothingAllowed).toBe(true);
  });

  it('does not count introspection fields as denied', () => {
    const answer = send(f, '{ __typename orders { id } }', user('USER'));
    expect(answer.decision.deniedCount).toBe(0);
    expect(answer.data).toEqual({ __typename: 'Query', orders: [{ id: 'o1' }] });
  });
});

describe('planner: nested fields and lists', () => {
  it('denies a role-guarded field in every list item, one error per item with its index, and never asks the upstream for it', () => {
    const answer = send(f, '{ products { id cost } }', guest);
    expect(answer.data).toEqual({ products: [{ id: 'p1', cost: null }, { id: 'p2', cost: null }] });
    expect(answer.paths).toEqual([['products', 0, 'cost'], ['products', 1, 'cost']]);
    expect(answer.errors.every((error) => error.extensions?.['code'] === 'UNAUTHENTICATED')).toBe(true);
    expect(answer.resolved).not.toContain('Product.cost');
    expect(answer.decision.deniedCount).toBe(1);
  });

  it('gives the field to a holder of either role and FORBIDDEN to a user with neither', () => {
    expect(send(f, '{ products { cost } }', user('EDITOR')).data).toEqual({ products: [{ cost: 4 }, { cost: 90 }] });
    const forbidden = send(f, '{ products { cost } }', user('USER'));
    expect(forbidden.errors.map((error) => error.extensions?.['code'])).toEqual(['FORBIDDEN', 'FORBIDDEN']);
  });

  it('applies an object type\'s rule to a field that returns it, and a denied non-null field nulls its nearest nullable parent', () => {
    const answer = send(f, '{ product(id: "p1") { id supplier { name } } products { id } }', guest);
    expect(answer.data).toEqual({ product: null, products: [{ id: 'p1' }, { id: 'p2' }] });
    expect(answer.paths).toEqual([['product', 'supplier']]);
    expect(answer.resolved).not.toContain('Product.supplier');
    expect(answer.resolved).not.toContain('Supplier.name');
  });

  it('nulls the whole answer when a denied non-null root field has no nullable parent', () => {
    const answer = send(f, '{ order(id: "o1") { id } products { id } }', guest);
    expect(answer.data).toBeNull();
    expect(answer.paths).toEqual([['order']]);
    expect(answer.resolved).toEqual(['Query.products', 'Product.id', 'Product.id']);
  });

  it('bubbles through non-null list items up to data: null', () => {
    const answer = send(f, '{ products { supplier { name } } }', guest);
    expect(answer.data).toBeNull();
    expect(answer.paths[0]).toEqual(['products', 0, 'supplier']);
  });

  it('a nested field under a list in a list gets its full path', () => {
    const answer = send(f, '{ products { reviews { body author } } }', guest);
    expect(answer.data).toEqual({ products: [{ reviews: [{ body: 'Bright', author: null }] }, { reviews: [] }] });
    expect(answer.paths).toEqual([['products', 0, 'reviews', 0, 'author']]);
  });

  it('uses the response key (alias) in paths and keeps aliases in the document sent upstream', () => {
    const answer = send(f, '{ cheap: products { ref: id secret: cost } }', guest);
    expect(answer.data).toEqual({ cheap: [{ ref: 'p1', secret: null }, { ref: 'p2', secret: null }] });
    expect(answer.paths).toEqual([['cheap', 0, 'secret'], ['cheap', 1, 'secret']]);
    expect(print(answer.decision.document)).toMatch(/cheap: products \{\s+ref: id\s+\}/);
    expect(answer.decision.denied).toEqual([{ code: 'UNAUTHENTICATED', path: ['cheap', 'secret'], coordinate: 'Product.cost' }]);
  });

  it('asks the upstream for __typename where a kept field has no allowed child left', () => {
    const answer = send(f, '{ product(id: "p1") { cost } }', guest);
    expect(print(answer.decision.document)).toMatch(/product\(id: "p1"\) \{\s+__typename\s+\}/);
    expect(answer.data).toEqual({ product: { cost: null } });
  });
});

describe('planner: fragments, interfaces and unions', () => {
  it('treats each spread of the same named fragment as its own place, with its own paths', () => {
    const source = `
      query { products { ...Priced } product(id: "p2") { ...Priced } }
      fragment Priced on Product { id cost }
    `;
    const answer = send(f, source, guest);
    expect(answer.data).toEqual({ products: [{ id: 'p1', cost: null }, { id: 'p2', cost: null }], product: { id: 'p2', cost: null } });
    expect(answer.paths).toEqual([['products', 0, 'cost'], ['products', 1, 'cost'], ['product', 'cost']]);
    expect(answer.decision.deniedCount).toBe(2);
    expect(answer.resolved).not.toContain('Product.cost');
    expect(send(f, source, user('ADMIN')).errors).toEqual([]);
  });

  it('prunes a fragment differently where its spreads narrow it differently, leaving the original name to the unchanged one', () => {
    const source = `
      query {
        a: node(id: "p1") { ... on Product { ...Ident } }
        b: node(id: "o1") { ... on Order { ...Ident } }
      }
      fragment Ident on Node { __typename id }
    `;
    const answer = send(f, source, guest);
    expect(answer.data).toEqual({ a: { __typename: 'Product', id: 'p1' }, b: null });
    expect(answer.paths).toEqual([['b', 'id']]);
    expect(answer.resolved).not.toContain('Order.id');
    const sent = print(answer.decision.document);
    expect(sent).toContain('fragment Ident on Node');
    expect(sent).toMatch(/fragment Ident__authz\d+ on Node/);
  });

  it('prunes a fragment spread at the root that mixes the gateway\'s fields and upstream fields, and nested fragments with it', () => {
    const source = `
      { ...Root }
      fragment Root on Query { me { id } products { ...Item } orders { id } }
      fragment Item on Product { id ...Money }
      fragment Money on Product { cost }
    `;
    const decision = f.planner.authorize({ document: parse(source), variables: undefined, caller: guest });
    const sent = print(decision.document);
    expect(sent).toContain('me {');
    expect(sent).not.toContain('orders');
    expect(sent).not.toContain('cost');
    expect(sent).not.toMatch(/fragment (Root|Item|Money) on/);
    expect(decision.denied.map((denied) => denied.path)).toEqual([['products', 'cost'], ['orders']]);
    const answer = send(f, source, guest);
    expect(answer.paths).toEqual([['products', 0, 'cost'], ['products', 1, 'cost'], ['orders']]);
    expect(answer.data).toMatchObject({ me: { id: 'a1' }, products: [{ id: 'p1', cost: null }, { id: 'p2', cost: null }], orders: null });
  });

  it('applies the rule of the concrete type selected by inline fragments on an interface, per item', () => {
    const source = '{ a: node(id: "p1") { id ... on Product { name } ... on Order { total } } b: node(id: "o1") { id ... on Product { name } ... on Order { total } } }';
    const answer = send(f, source, guest);
    // Order needs USER or ADMIN: for the order, the non-null id is denied and nulls the node.
    expect(answer.data).toEqual({ a: { id: 'p1', name: 'Lamp' }, b: null });
    expect(answer.paths).toEqual([['b', 'id']]);
    expect(answer.resolved).not.toContain('Order.id');
    expect(answer.resolved).not.toContain('Order.total');
    expect(send(f, source, user('USER')).data).toEqual({ a: { id: 'p1', name: 'Lamp' }, b: { id: 'o1', total: 94 } });
  });

  it('applies the concrete type\'s rules inside inline fragments on a union, per list item', () => {
    const source = '{ search(term: "l") { ... on Product { name } ... on Order { trackingCode internalNote } } }';
    const asGuest = send(f, source, guest);
    // @public on a field of Order does not let a guest see into an Order.
    expect(asGuest.data).toEqual({ search: [{ name: 'Lamp' }, { trackingCode: null, internalNote: null }] });
    expect(asGuest.paths).toEqual([['search', 1, 'trackingCode'], ['search', 1, 'internalNote']]);
    expect(asGuest.resolved).not.toContain('Order.trackingCode');
    const asUser = send(f, source, user('USER'));
    expect(asUser.data).toEqual({ search: [{ name: 'Lamp' }, { trackingCode: 'TRK-1', internalNote: null }] });
    expect(asUser.errors.map((error) => [error.path, error.extensions?.['code']])).toEqual([[['search', 1, 'internalNote'], 'FORBIDDEN']]);
    expect(asUser.resolved).toContain('Order.trackingCode');
    expect(asUser.resolved).not.toContain('Order.internalNote');
    expect(send(f, source, user('USER', 'SUPPORT')).errors).toEqual([]);
    // Every rule must hold: SUPPORT alone passes the field's rule but not Order's.
    expect(send(f, source, user('SUPPORT')).errors.map((error) => [error.path, error.extensions?.['code']])).toEqual([[['search', 1, 'trackingCode'], 'FORBIDDEN'], [['search', 1, 'internalNote'], 'FORBIDDEN']]);
  });

  it('answers __typename on a union member the caller may not see into', () => {
    const answer = send(f, '{ search(term: "l") { __typename ... on Order { total } } }', guest);
    expect(answer.data).toEqual({ search: [{ __typename: 'Product' }, null] });
    expect(answer.paths).toEqual([['search', 1, 'total']]);
  });

  it('does not add __typename to the answer where the client did not ask for it', () => {
    const answer = send(f, '{ search(term: "l") { ... on Product { name cost } } }', guest);
    expect(print(answer.decision.document)).toContain('__typename');
    expect(answer.data).toEqual({ search: [{ name: 'Lamp', cost: null }, {}] });
  });
});

describe('planner: variables, @skip and @include', () => {
  const source = 'query Q($withCost: Boolean!, $id: ID!) { product(id: $id) { name cost @include(if: $withCost) } }';

  it('decides only what the variables include', () => {
    const document = parse(source);
    const without = send(f, document, guest, { withCost: false, id: 'p1' });
    expect(without.decision.deniedCount).toBe(0);
    expect(without.data).toEqual({ product: { name: 'Lamp' } });
    const withCost = send(f, document, guest, { withCost: true, id: 'p1' });
    expect(withCost.decision.deniedCount).toBe(1);
    expect(withCost.data).toEqual({ product: { name: 'Lamp', cost: null } });
    expect(withCost.paths).toEqual([['product', 'cost']]);
    expect(withCost.resolved).not.toContain('Product.cost');
  });

  it('answers BAD_USER_INPUT instead of throwing when everything is denied and a variable does not coerce', () => {
    const document = parse('query Q($id: ID!) { order(id: $id) { id } }');
    const variables = { id: { not: 'an id' } };
    expect(f.planner.authorize({ document, variables, caller: guest }).nothingAllowed).toBe(true);
    const completed = f.planner.complete({ document, variables, caller: guest, data: null });
    expect(completed.data).toBeNull();
    expect(completed.errors.map((error) => error.extensions['code'])).toEqual(['BAD_USER_INPUT']);
  });

  it('sends nothing when @skip leaves no upstream field, and answers an empty object', () => {
    const answer = send(f, 'query Q($no: Boolean!) { products @skip(if: $no) { id } }', guest, { no: true });
    expect(answer.decision).toMatchObject({ deniedCount: 0, nothingAllowed: true });
    expect(answer.called).toBe(false);
    expect(answer.data).toEqual({});
  });

  it('drops variable definitions the pruned document no longer uses', () => {
    const answer = send(f, 'query Q($id: ID!, $term: String!) { product(id: $id) { name } search(term: $term) { ... on Order { id } } orders { id } }', guest, { id: 'p1', term: 'x' });
    expect(print(answer.decision.document)).toContain('$term');
    const denied = send(f, 'query Q($id: ID!) { product(id: $id) { name } order(id: $id) { id } }', guest, { id: 'p1' });
    expect(denied.decision.document.definitions).toHaveLength(1);
    expect(print(denied.decision.document)).toContain('$id');
    const gone = send(f, 'query Q($id: ID!) { products { name } order(id: $id) { id } }', guest, { id: 'p1' });
    expect(print(gone.decision.document)).not.toContain('$id');
  });

  it('drops fragments the pruned document no longer spreads', () => {
    const answer = send(f, '{ products { id } orders { ...O } } fragment O on Order { id }', guest);
    expect(answer.decision.document.definitions).toHaveLength(1);
  });
});

describe('planner: nothing allowed, mutations and caller states', () => {
  it('sends nothing upstream when every upstream field is denied, and still answers null with errors', () => {
    const answer = send(f, '{ orders { id } adminReport }', guest);
    expect(answer.decision.nothingAllowed).toBe(true);
    expect(answer.called).toBe(false);
    expect(answer.data).toEqual({ orders: null, adminReport: null });
    expect(answer.paths).toEqual([['orders'], ['adminReport']]);
  });

  it('never sends a denied mutation field upstream', () => {
    const answer = send(f, 'mutation { placeOrder(productId: "p1") { id } }', guest);
    expect(answer.decision.nothingAllowed).toBe(true);
    expect(answer.data).toEqual({ placeOrder: null });
    const mixed = send(f, 'mutation { placeOrder(productId: "p1") { id } subscribe(email: "a@b.c") }', guest);
    expect(mixed.resolved).toEqual(['Mutation.subscribe']);
    expect(mixed.data).toEqual({ placeOrder: null, subscribe: true });
  });

  it('counts a gateway-only operation as nothing for the upstream, with nothing denied', () => {
    const decision = f.planner.authorize({ document: parse('{ me { id } }'), variables: undefined, caller: guest });
    expect(decision).toMatchObject({ deniedCount: 0, nothingAllowed: true });
  });

  it('carries the reason of a rejected token', () => {
    const expired = send(f, '{ orders { id } products { id } }', { kind: 'rejected', reason: 'TOKEN_EXPIRED' });
    expect(expired.errors.map((error) => error.extensions)).toEqual([{ code: 'UNAUTHENTICATED', reason: 'TOKEN_EXPIRED' }]);
    const invalid = send(f, '{ orders { id } }', { kind: 'rejected', reason: 'TOKEN_INVALID' });
    expect(invalid.errors.map((error) => error.extensions)).toEqual([{ code: 'UNAUTHENTICATED', reason: 'TOKEN_INVALID' }]);
    expect(invalid.decision.denied[0]).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'TOKEN_INVALID' });
  });

  it('takes the gateway\'s own Viewer as the caller, as it is', () => {
    const viewer: Viewer = { kind: 'user', userId: 'u1', sessionId: 's1', tokenId: 't1', roles: ['ADMIN'], expiresAt: 2_000_000_000, amr: ['pwd'], authTime: 0, enrollmentOnly: false };
    const caller: Caller = viewer;
    expect(send(f, '{ adminReport }', caller).data).toEqual({ adminReport: 'all good' });
  });

  it('answers SERVICE_UNAVAILABLE for fields needing sign-in while revocations cannot be checked, and public fields still answer', () => {
    const answer = send(f, '{ orders { id } products { name } }', { kind: 'unavailable' });
    expect(answer.errors.map((error) => error.extensions)).toEqual([{ code: 'SERVICE_UNAVAILABLE' }]);
    expect(answer.data).toEqual({ orders: null, products: [{ name: 'Lamp' }, { name: 'Desk' }] });
  });
});

describe('planner: cache', () => {
  const source = '{ products { id cost } orders { id } }';

  it('returns the same decision object for the same document and caller class', () => {
    const document = parse(source);
    const first = f.planner.authorize({ document, variables: undefined, caller: user('USER', 'EDITOR') });
    expect(f.planner.authorize({ document, variables: {}, caller: user('EDITOR', 'USER') })).toBe(first);
    // A role that no rule names cannot change a decision.
    expect(f.planner.authorize({ document, variables: undefined, caller: user('EDITOR', 'USER', 'AUDITOR') })).toBe(first);
    expect(f.planner.authorize({ document, variables: undefined, caller: guest })).toBe(f.planner.authorize({ document, variables: undefined, caller: guest }));
  });

  it('decides again for another role set, another caller kind, another reason or another document object', () => {
    const document = parse(source);
    const editor = f.planner.authorize({ document, variables: undefined, caller: user('EDITOR', 'USER') });
    const plain = f.planner.authorize({ document, variables: undefined, caller: user('USER') });
    expect(plain).not.toBe(editor);
    expect(editor.deniedCount).toBe(0);
    expect(plain.deniedCount).toBe(1);
    const expired = f.planner.authorize({ document, variables: undefined, caller: { kind: 'rejected', reason: 'TOKEN_EXPIRED' } });
    const invalid = f.planner.authorize({ document, variables: undefined, caller: { kind: 'rejected', reason: 'TOKEN_INVALID' } });
    expect(expired).not.toBe(invalid);
    expect(invalid.denied[0]?.reason).toBe('TOKEN_INVALID');
    expect(f.planner.authorize({ document: parse(source), variables: undefined, caller: user('EDITOR', 'USER') })).not.toBe(editor);
  });

  it('keys on the values of @skip/@include variables, and on nothing else', () => {
    const document = parse('query Q($c: Boolean!, $id: ID!) { product(id: $id) { cost @include(if: $c) } }');
    const on = f.planner.authorize({ document, variables: { c: true, id: 'p1' }, caller: guest });
    expect(f.planner.authorize({ document, variables: { c: true, id: 'p2' }, caller: guest })).toBe(on);
    expect(f.planner.authorize({ document, variables: { c: false, id: 'p1' }, caller: guest })).not.toBe(on);
  });

  it('keys on what a @skip/@include variable evaluates to, never on its value: 32 distinct 60 KB values leave the cache flat', () => {
    const planner = fixture().planner;
    const document = parse('query Q($c: Boolean!) { products { id cost @include(if: $c) } }');
    const first = planner.authorize({ document, variables: { c: 'x'.repeat(60 * 1024) }, caller: guest });
    const after = planner.cacheStats();
    for (let index = 0; index < 32; index++) {
      const value = `${index}`.padEnd(60 * 1024, String.fromCharCode(97 + (index % 26)));
      // Every non-Boolean value is one outcome (invalid): the same decision object each time.
      expect(planner.authorize({ document, variables: { c: value }, caller: guest })).toBe(first);
    }
    expect(planner.cacheStats()).toEqual(after);
    expect(after.entries).toBe(1);
    expect(after.longestKey).toBeLessThan(64);
    expect(after.bytes).toBeLessThan(4096);
    // true and false are outcomes of their own; a default stands in for an absent value.
    const on = planner.authorize({ document, variables: { c: true }, caller: guest });
    expect(on.deniedCount).toBe(1);
    expect(planner.authorize({ document, variables: { c: false }, caller: guest }).deniedCount).toBe(0);
    const defaulted = parse('query Q($c: Boolean! = false) { products { id cost @include(if: $c) } }');
    expect(planner.authorize({ document: defaulted, variables: {}, caller: guest })).toBe(planner.authorize({ document: defaulted, variables: { c: false }, caller: guest }));
  });

  it('bounds the cache in bytes as well as in entries', () => {
    const bounded = fixture({ cacheBytes: 64 * 1024 });
    for (let index = 0; index < 40; index++) {
      // A different large document each time (aliases make it long), each with a denied field to prune.
      const aliases = Array.from({ length: 400 }, (_, n) => `a${n}: id`).join(' ');
      bounded.planner.authorize({ document: parse(`query Q${index} { products { ${aliases} cost } }`), variables: undefined, caller: guest });
    }
    const stats = bounded.planner.cacheStats();
    expect(stats.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(stats.entries).toBeLessThan(40);
    expect(stats.entries).toBeGreaterThan(0);
  });

  it('stays correct when a document outgrows its cache', () => {
    const small = fixture({ cacheSize: 1 });
    const document = parse(source);
    expect(small.planner.authorize({ document, variables: undefined, caller: guest }).deniedCount).toBe(2);
    expect(small.planner.authorize({ document, variables: undefined, caller: user('ADMIN') }).deniedCount).toBe(0);
    expect(small.planner.authorize({ document, variables: undefined, caller: guest }).deniedCount).toBe(2);
  });
});
