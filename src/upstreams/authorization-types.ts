/**
 * The types of the authorization part: every file of the part depends on this module and it depends on none of
 * them, so the part reads one way (authorization.ts, the public surface, re-exports these on top).
 */
import type { DocumentNode, GraphQLError } from 'graphql';

/** What an upstream SDL says about one field or object type. */
export type FieldRule =
  | { readonly kind: 'public' }
  /** `mfa`: `@authorized(mfa: true)`, only for sessions that signed in with a second factor or a passkey. */
  | { readonly kind: 'authorized'; readonly roles: readonly string[]; readonly mfa?: boolean };

/**
 * Rules of every upstream, keyed 'Type.field' (fields) and 'Type' (object types). Fields of types not in `owned`
 * (the gateway's own schema) are not the planner's business: their resolvers enforce @authorized themselves.
 * Root types are keyed by the operation's root as composed ('Query', 'Mutation', 'Subscription'), whatever the
 * upstream calls them (`schema { query: query_root }`): field rules as 'Query.x', and a rule on the root type
 * itself never in `types` but in `rootTypeRules`, once per root field that upstream defines.
 */
export interface AuthorizationRules {
  readonly fields: ReadonlyMap<string, FieldRule>;
  /** Object types other than the roots. */
  readonly types: ReadonlyMap<string, FieldRule>;
  /**
   * 'Query.x' → the rule on the root type that defines x in its own upstream. Two upstreams' root types are
   * merged into one composed root, so a root type's rule must cover only its own upstream's fields.
   */
  readonly rootTypeRules: ReadonlyMap<string, FieldRule>;
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

/** What the planner's decision cache holds now: tests and diagnostics read it, nothing decides on it. */
export interface PlannerCacheStats {
  readonly entries: number;
  /** The cache's own estimate of what its entries cost, bounded by the planner's `cacheBytes`. */
  readonly bytes: number;
  /** Length of the longest cache key (keys never hold variable values). */
  readonly longestKey: number;
}

export interface Planner {
  /**
   * Decides an operation for a caller. Cached per (document object, operation, roles, caller kind + reason, and
   * what each variable used by @skip/@include evaluates to: true, false, null, absent or invalid).
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
  cacheStats(): PlannerCacheStats;
}
