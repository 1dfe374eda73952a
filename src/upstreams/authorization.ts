/**
 * Authorization at the edge for upstream fields: read the rules from each upstream's SDL, decide an operation
 * for a caller before anything is sent upstream (prune what is denied), and complete the upstream's answer
 * with `null` and one error per denied field. Pure functions over graphql-js: no HTTP, no database.
 *
 * This file is the public surface of the part; the implementation lives beside it.
 */
export type {
  AuthorizationDecision,
  AuthorizationRules,
  Caller,
  DeniedSelection,
  Denial,
  FieldRule,
  Planner,
  PlannerCacheStats,
} from './authorization-types.js';

/**
 * Reads @authorized / @authorized(roles:) / @public from one upstream's SDL document (parsed, directives possibly
 * undeclared). Returns problems (unknown role in roles:, @public on a type, bad arguments) as fix-it strings
 * naming the upstream, instead of throwing.
 */
export { readRules } from './rules.js';
/** One planner per composed schema (build a new one when the schema is swapped); it caches per document. */
export { createPlanner } from './planner.js';
/** Whether an operation selects introspection (`__schema`/`__type`): the gateway answers it, never an upstream. */
export { selectsIntrospection } from './introspection.js';
