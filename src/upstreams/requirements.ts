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
 * The clause of `@authorized(mfa: true)`: compared by identity, never by its content (no role can be named
 * '#mfa': roles are [A-Z][A-Z0-9_]*).
 */
const MULTI_FACTOR: readonly string[] = Object.freeze(['#mfa']);

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
    const add = (clause: readonly string[] | undefined, rule?: FieldRule): void => {
      if (clause) clauses.push(clause);
      if (rule?.kind === 'authorized' && rule.mfa) clauses.push(MULTI_FACTOR);
    };
    const coordinate = `${parent.name}.${fieldName}`;
    const own = rules.fields.get(coordinate);
    const isRoot = roots.has(parent.name);
    if (own === undefined && isRoot) clauses.push(SIGNED_IN);
    add(clauseOf(own), own);
    for (const iface of parent.getInterfaces()) {
      const rule = rules.fields.get(`${iface.name}.${fieldName}`);
      add(clauseOf(rule), rule);
    }
    // A root type's rule belongs to the upstream that wrote it, recorded per root field at composition.
    const typeRule = isRoot ? rules.rootTypeRules.get(coordinate) : rules.types.get(parent.name);
    add(clauseOf(typeRule), typeRule);
    const field = parent.getFields()[fieldName];
    const returned = field ? getNamedType(field.type) : undefined;
    if (returned && isObjectType(returned)) {
      const returnedRule = rules.types.get(returned.name);
      add(clauseOf(returnedRule), returnedRule);
    }
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
const MFA_REQUIRED: Denial = Object.freeze({ code: 'FORBIDDEN', reason: 'MFA_REQUIRED' });

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
      // Roles first: a caller without the role learns nothing about a second factor it would also need.
      for (const clause of requirement) {
        if (clause !== MULTI_FACTOR && clause.length > 0 && !clause.some((role) => caller.roles.includes(role))) return FORBIDDEN;
      }
      if (requirement.includes(MULTI_FACTOR) && !caller.amr?.includes('mfa')) return MFA_REQUIRED;
      return undefined;
  }
}
