import { LRUCache } from 'lru-cache';
import { getOperationAST, GraphQLBoolean, Kind, valueFromAST, visit, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { AuthorizationDecision, AuthorizationRules, Caller, Planner, PlannerCacheStats } from './authorization-types.js';
import { createCompleter } from './complete.js';
import { plan } from './prune.js';
import { compileRequirements } from './requirements.js';

interface DocumentEntry {
  /** Names this document's decisions in the shared cache (a document object has no string key of its own). */
  readonly id: number;
  /** About what a pruned copy of it costs to keep: the length of its source text. */
  readonly bytes: number;
  /** Per operation name: the @skip/@include variables and their defaults, read once. */
  readonly operations: Map<string, OperationEntry>;
}

interface OperationEntry {
  readonly operation: OperationDefinitionNode;
  readonly conditions: readonly ConditionVariable[];
}

/** A variable some @skip/@include reads: only its evaluated outcome can change a decision. */
interface ConditionVariable {
  readonly name: string;
  /** The operation's default for it (a Boolean, null, or undefined when it has none). */
  readonly fallback: unknown;
}

/** What one @skip/@include variable evaluates to: true, false, null, absent, or not a Boolean (invalid). */
type Outcome = 't' | 'f' | 'n' | '-' | 'x';

const DEFAULT_CACHE_ENTRIES = 4096;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** Bookkeeping of one cached decision beyond its key and its pruned document. */
const ENTRY_OVERHEAD_BYTES = 256;
const DENIED_BYTES = 128;

/**
 * Decisions are cached per (document object, operation, caller class, outcome of each @skip/@include variable).
 * Apollo reuses the parsed document of a repeated query, so a document gets a number once (a WeakMap lets
 * documents Apollo forgets go) and a repeated operation costs one short string and one LRU lookup. The key holds
 * outcomes, never the variables' values: a guest sending distinct 60 KB values for a `Boolean!` variable makes
 * the same one-character key each time. The cache is bounded in entries and in bytes (a pruned document costs
 * about its source's length), so neither many documents nor large ones grow it past `cacheBytes`.
 */
export function createPlanner(input: { schema: GraphQLSchema; rules: AuthorizationRules; cacheSize?: number; cacheBytes?: number }): Planner {
  const { schema, rules } = input;
  const requirements = compileRequirements(schema, rules);
  const completer = createCompleter(schema, requirements, rules.owned);
  const documents = new WeakMap<DocumentNode, DocumentEntry>();
  let nextId = 0;
  /** The estimated size of a decision's pruned document, read by sizeCalculation. */
  const sizes = new WeakMap<AuthorizationDecision, number>();
  const decisions = new LRUCache<string, AuthorizationDecision>({
    max: Math.max(1, input.cacheSize ?? DEFAULT_CACHE_ENTRIES),
    maxSize: Math.max(1, input.cacheBytes ?? DEFAULT_CACHE_BYTES),
    sizeCalculation: (decision, key) =>
      key.length + ENTRY_OVERHEAD_BYTES + decision.deniedCount * DENIED_BYTES + (decision.deniedCount > 0 ? (sizes.get(decision) ?? 0) : 0),
  });

  function callerKey(caller: Caller): string {
    switch (caller.kind) {
      case 'guest':
        return 'g';
      case 'unavailable':
        return 'u';
      case 'rejected':
        return `r:${caller.reason}`;
      case 'user': {
        const relevant = caller.roles.filter((role) => requirements.namedRoles.has(role));
        // Whether the session is multi-factor changes decisions under @authorized(mfa: true).
        const kind = caller.amr?.includes('mfa') ? 'M' : 'U';
        return relevant.length === 0 ? kind : `${kind}:${relevant.length === 1 ? relevant[0] : [...new Set(relevant)].sort().join(',')}`;
      }
    }
  }

  function entryOf(document: DocumentNode): DocumentEntry {
    let entry = documents.get(document);
    if (!entry) {
      entry = { id: nextId++, bytes: document.loc?.end ?? 0, operations: new Map() };
      documents.set(document, entry);
    }
    return entry;
  }

  function operationOf(document: DocumentNode, entry: DocumentEntry, operationName: string | null | undefined): OperationEntry {
    const name = operationName ?? '';
    let found = entry.operations.get(name);
    if (!found) {
      const operation = getOperationAST(document, operationName);
      if (!operation) throw new TypeError('No operation to authorize: give operationName when the document holds several. Validate the document first.');
      found = { operation, conditions: conditionVariables(document, operation) };
      // Only names the document defines get here (or '' for its one operation): bounded by the document.
      entry.operations.set(name, found);
    }
    return found;
  }

  function authorize(request: {
    document: DocumentNode;
    operationName?: string | null;
    variables: Record<string, unknown> | undefined;
    caller: Caller;
  }): AuthorizationDecision {
    const { document, variables, caller } = request;
    const entry = entryOf(document);
    const { operation, conditions } = operationOf(document, entry, request.operationName);
    let outcomes = '';
    for (const condition of conditions) outcomes += outcomeOf(variables?.[condition.name], condition.fallback);
    const key = `${entry.id}|${request.operationName ?? ''}|${callerKey(caller)}|${outcomes}`;
    const cached = decisions.get(key);
    if (cached) return cached;

    // The walk reads the variables only through @skip/@include: it gets exactly the outcomes the key holds, so a
    // cached decision is the one the walk would make for any request with the same key.
    const evaluated: Record<string, unknown> = {};
    conditions.forEach((condition, index) => {
      const outcome = outcomes[index];
      if (outcome === 't') evaluated[condition.name] = true;
      else if (outcome === 'f') evaluated[condition.name] = false;
      else if (outcome === 'n') evaluated[condition.name] = null;
    });
    const decision = plan({ schema, requirements, owned: rules.owned, document, operation, variables: evaluated, caller });
    if (decision.deniedCount > 0) sizes.set(decision, entry.bytes);
    decisions.set(key, decision);
    return decision;
  }

  return {
    authorize,
    complete(request) {
      const decision = authorize(request);
      // Nothing sent upstream and nothing denied: every upstream field was skipped (@skip/@include).
      if (decision.deniedCount === 0) return { data: request.data ?? (decision.nothingAllowed ? {} : null), errors: [] };
      return completer(request, decision);
    },
    cacheStats(): PlannerCacheStats {
      let longestKey = 0;
      for (const key of decisions.keys()) longestKey = Math.max(longestKey, key.length);
      return { entries: decisions.size, bytes: decisions.calculatedSize, longestKey };
    },
  };
}

/**
 * A variable's value as @skip/@include see it: the client's, or the operation's default when absent. Anything
 * but true, false or null does not coerce to Boolean; the request fails on it anyway, and every such value is
 * one outcome (the walk then keeps the selection and decides it, the careful choice).
 */
function outcomeOf(value: unknown, fallback: unknown): Outcome {
  const effective = value === undefined ? fallback : value;
  if (effective === true) return 't';
  if (effective === false) return 'f';
  if (effective === null) return 'n';
  return effective === undefined ? '-' : 'x';
}

function conditionVariables(document: DocumentNode, operation: OperationDefinitionNode): ConditionVariable[] {
  const names = new Set<string>();
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'skip' && node.name.value !== 'include') return;
      for (const argument of node.arguments ?? []) {
        if (argument.value.kind === Kind.VARIABLE) names.add(argument.value.name.value);
      }
    },
  });
  return [...names].sort().map((name) => {
    const definition = operation.variableDefinitions?.find((candidate) => candidate.variable.name.value === name);
    return { name, fallback: definition?.defaultValue ? valueFromAST(definition.defaultValue, GraphQLBoolean) : undefined };
  });
}
