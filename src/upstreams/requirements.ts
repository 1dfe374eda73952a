import { getNamedType, isObjectType, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import type { AuthorizationRules, Caller, Denial, FieldRule } from './authorization-types.js';

/**
 * What a caller needs to see one field of one concrete object type, assuming its parent was visible: every
 * clause must hold. A clause is a list of roles of which the caller must hold at least one; an empty clause
 * means "signed in". No clauses: visible to whoever sees the parent.
 */
export type Requirement = readonly (readonly string[])[];

export interface Requirements {
  /** Memoized per 'Type.field'. */
  of(parent: GraphQLObjectType, fieldName: string): Requirement;
  /** Every role some rule names: only these can change a decision, so only these go into cache keys. */
  readonly namedRoles: ReadonlySet<string>;
}

const SIGNED_IN: readonly string[] = Object.freeze([]);

/**
 * The rules combined, once per schema. A field's requirement is its own rule (an upstream root field without
 * one needs a signed-in user: deny by default), the rules of the same field on the interfaces its type
 * implements, the rule of its parent object type (so a type's rule also covers its fields when it is reached
 * through an interface or union; for a root field, the rule of its own upstream's root type only), and the rule of the object type it returns. The parent's own requirement is
 * not repeated here: a child is only ever looked at when its parent was visible.
 */
export function compileRequirements(schema: GraphQLSchema, rules: AuthorizationRules): Requirements {
  // By name, not identity: the completer asks about the same types in its resolver-free copy of the schema.
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].map((type) => type?.name));
  const memo = new Map<string, Requirement>();
  const namedRoles = new Set<string>();
  for (const rule of [...rules.fields.values(), ...rules.types.values(), ...rules.rootTypeRules.values()]) {
    if (rule.kind === 'authorized') for (const role of rule.roles) namedRoles.add(role);
  }

  function clauseOf(rule: FieldRule | undefined): readonly string[] | undefined {
    if (!rule || rule.kind === 'public') return undefined;
    return rule.roles.length === 0 ? SIGNED_IN : rule.roles;
  }

  function compute(parent: GraphQLObjectType, fieldName: string): Requirement {
    const clauses: (readonly string[])[] = [];
    const add = (clause: readonly string[] | undefined): void => {
      if (clause) clauses.push(clause);
    };
    const coordinate = `${parent.name}.${fieldName}`;
    const own = rules.fields.get(coordinate);
    const isRoot = roots.has(parent.name);
    if (own === undefined && isRoot) clauses.push(SIGNED_IN);
    add(clauseOf(own));
    for (const iface of parent.getInterfaces()) add(clauseOf(rules.fields.get(`${iface.name}.${fieldName}`)));
    // A root type's rule belongs to the upstream that wrote it, recorded per root field at composition.
    add(clauseOf(isRoot ? rules.rootTypeRules.get(coordinate) : rules.types.get(parent.name)));
    const field = parent.getFields()[fieldName];
    const returned = field ? getNamedType(field.type) : undefined;
    if (returned && isObjectType(returned)) add(clauseOf(rules.types.get(returned.name)));
    return simplify(clauses);
  }

  return {
    namedRoles,
    of(parent: GraphQLObjectType, fieldName: string): Requirement {
      const key = `${parent.name}.${fieldName}`;
      let requirement = memo.get(key);
      if (requirement === undefined) {
        requirement = compute(parent, fieldName);
        memo.set(key, requirement);
      }
      return requirement;
    },
  };
}

/** One "signed in" clause is enough, and it is implied by any role clause. */
function simplify(clauses: (readonly string[])[]): Requirement {
  const withRoles = clauses.filter((clause) => clause.length > 0);
  if (withRoles.length > 0) return Object.freeze(withRoles);
  return clauses.length > 0 ? Object.freeze([SIGNED_IN]) : Object.freeze([]);
}

const UNAVAILABLE: Denial = Object.freeze({ code: 'SERVICE_UNAVAILABLE' });
const UNAUTHENTICATED: Denial = Object.freeze({ code: 'UNAUTHENTICATED' });
const EXPIRED: Denial = Object.freeze({ code: 'UNAUTHENTICATED', reason: 'TOKEN_EXPIRED' });
const INVALID: Denial = Object.freeze({ code: 'UNAUTHENTICATED', reason: 'TOKEN_INVALID' });
const FORBIDDEN: Denial = Object.freeze({ code: 'FORBIDDEN' });

/**
 * The same decision as src/graphql/authorized.ts makes for the gateway's own fields: an unavailable revocation
 * view cannot vouch for anybody, a rejected token says why, a guest must sign in, and a user needs at least one
 * role of each clause.
 */
export function decide(requirement: Requirement, caller: Caller): Denial | undefined {
  if (requirement.length === 0) return undefined;
  switch (caller.kind) {
    case 'unavailable':
      return UNAVAILABLE;
    case 'rejected':
      return caller.reason === 'TOKEN_EXPIRED' ? EXPIRED : INVALID;
    case 'guest':
      return UNAUTHENTICATED;
    case 'user':
      for (const clause of requirement) {
        if (clause.length > 0 && !clause.some((role) => caller.roles.includes(role))) return FORBIDDEN;
      }
      return undefined;
  }
}
