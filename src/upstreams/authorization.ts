/**
 * Authorization at the edge for upstream fields: read the rules from each upstream's SDL, decide an operation
 * for a caller before anything is sent upstream (prune what is denied), and complete the upstream's answer
 * with `null` and one error per denied field. Pure functions over graphql-js: no HTTP, no database.
 *
 * This file is the public surface of the part; the implementation lives beside it.
 */
import type { DocumentNode, GraphQLError, GraphQLSchema } from 'graphql';

/** What an upstream SDL says about one field or object type. */
export type FieldRule =
  | { readonly kind: 'public' }
  /** `mfa`: `@authorized(mfa: true)`, only for sessions that signed in with a second factor or a passkey. */
  | { readonly kind: 'authorized'; readonly roles: readonly string[]; readonly mfa?: boolean };

/**
 * Rules of every upstream, keyed 'Type.field' (fields) and 'Type' (object types). Fields of types not in `owned`
 * (the gateway's own schema) are not the planner's business: their resolvers enforce @authorized themselves.
 */
export interface AuthorizationRules {
  readonly fields: ReadonlyMap<string, FieldRule>;
  readonly types: ReadonlyMap<string, FieldRule>;
  /**
   * Root field coordinates ('Query.x', 'Mutation.y') and type names that belong to upstreams. The planner reads
   * the root coordinates: everything selected under an upstream root field is decided, everything under one of
   * the gateway's own root fields is left to its resolvers. Type names may be listed; they change nothing.
   */
  readonly owned: ReadonlySet<string>;
}

export type Caller =
  | { readonly kind: 'guest' }
  | { readonly kind: 'rejected'; readonly reason: 'TOKEN_EXPIRED' | 'TOKEN_INVALID' }
  | { readonly kind: 'unavailable' }
  /** `amr`: how the session signed in (RFC 8176); `mfa` in it passes `@authorized(mfa: true)`. */
  | { readonly kind: 'user'; readonly roles: readonly string[]; readonly amr?: readonly string[] };

export interface Denial {
  readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN' | 'SERVICE_UNAVAILABLE';
  readonly reason?: 'TOKEN_EXPIRED' | 'TOKEN_INVALID' | 'MFA_REQUIRED';
}

/** One denied field selection of the operation, as written (no list indices: those exist only in the answer). */
export interface DeniedSelection extends Denial {
  /** Response keys from the root to the denied field (aliases, not field names). */
  readonly path: readonly string[];
  /** 'Type.field' of the denied field. */
  readonly coordinate: string;
}

export interface AuthorizationDecision {
  /** Number of denied field selections (0: nothing denied; the fast path returns the upstream answer unchanged). */
  readonly deniedCount: number;
  /** The denied selections, in document order (empty when deniedCount is 0). Reject mode answers with these. */
  readonly denied: readonly DeniedSelection[];
  /**
   * The operation to send upstream: denied fields removed; a selection set left empty gets `__typename`;
   * fragments and variable definitions no longer used are dropped; `__typename` added to selections on abstract
   * types (the completer needs it). Same response keys as the original for everything kept. A field selected on
   * an interface that only some concrete types allow is asked for on those only (`... on Product { id }`).
   * Skipped selections (@skip/@include) are removed. When nothing is denied, this is the original document object.
   */
  readonly document: DocumentNode;
  /**
   * True when no upstream root field is left (all denied or skipped, or the operation has none): send nothing
   * upstream, and pass `data: null` to complete().
   */
  readonly nothingAllowed: boolean;
}

export interface Planner {
  /**
   * Decides an operation for a caller. Cached per (document object, roles, caller kind + reason, and the values
   * of variables used by @skip/@include).
   */
  authorize(input: {
    document: DocumentNode;
    operationName?: string | null;
    variables: Record<string, unknown> | undefined;
    caller: Caller;
  }): AuthorizationDecision;
  /**
   * Builds the client's answer from the upstream's `data` for decision.document: null at each denied field
   * (bubbled to the nearest nullable parent by GraphQL's rules when the field is non-null), one error per denied
   * occurrence with its concrete `path` (list indices included) and extensions {code, reason?}. Returns only the
   * gateway's errors; the caller appends the upstream's own. Errors are GraphQLErrors whose originalError is a
   * GatewayError, so src/graphql/format-error.ts shows their code and reason. `data: null` with nothingAllowed
   * means "nothing was sent"; otherwise it means the upstream failed as a whole, and stays null.
   * Synchronous: the resolvers only read `data`.
   */
  complete(input: {
    document: DocumentNode;
    operationName?: string | null;
    variables: Record<string, unknown> | undefined;
    caller: Caller;
    data: Record<string, unknown> | null;
  }): { data: Record<string, unknown> | null; errors: GraphQLError[] };
}

/**
 * Reads @authorized / @authorized(roles:) / @public from one upstream's SDL document (parsed, directives possibly
 * undeclared). Returns problems (unknown role in roles:, @public on a type, bad arguments) as fix-it strings
 * naming the upstream, instead of throwing.
 */
export { readRules } from './rules.js';
/** One planner per composed schema (build a new one when the schema is swapped); it caches per document. */
export { createPlanner } from './planner.js';
