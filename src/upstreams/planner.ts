import { getOperationAST, getVariableValues, Kind, visit, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { AuthorizationDecision, AuthorizationRules, Caller, Planner } from './authorization.js';
import { createCompleter } from './complete.js';
import { plan } from './prune.js';
import { compileRequirements } from './requirements.js';

interface DocumentEntry {
  /** Variables that @skip/@include read anywhere in the document: only their values change a decision. */
  readonly conditionVariables: readonly string[];
  readonly decisions: Map<string, AuthorizationDecision>;
}

const DEFAULT_CACHE_SIZE = 32;

/**
 * Decisions are cached by the document object itself (Apollo reuses the parsed document of a repeated query),
 * so a repeated operation costs one WeakMap and one Map lookup; a WeakMap lets documents Apollo forgets go.
 * Per document, a small map by caller class (guest, unavailable, rejected + reason, or the sorted roles that
 * some rule names) and by the @skip/@include variables, cleared when it grows past `cacheSize`.
 */
export function createPlanner(input: { schema: GraphQLSchema; rules: AuthorizationRules; cacheSize?: number }): Planner {
  const { schema, rules } = input;
  const cacheSize = input.cacheSize ?? DEFAULT_CACHE_SIZE;
  const requirements = compileRequirements(schema, rules);
  const completer = createCompleter(schema, requirements, rules.owned);
  const documents = new WeakMap<DocumentNode, DocumentEntry>();

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

  function authorize(request: {
    document: DocumentNode;
    operationName?: string | null;
    variables: Record<string, unknown> | undefined;
    caller: Caller;
  }): AuthorizationDecision {
    const { document, variables, caller } = request;
    let entry = documents.get(document);
    if (!entry) {
      entry = { conditionVariables: conditionVariables(document), decisions: new Map() };
      documents.set(document, entry);
    }
    let key = `${request.operationName ?? ''}|${callerKey(caller)}`;
    for (const name of entry.conditionVariables) key += `|${JSON.stringify(variables?.[name]) ?? '-'}`;
    const cached = entry.decisions.get(key);
    if (cached) return cached;

    const operation = getOperationAST(document, request.operationName);
    if (!operation) throw new TypeError('No operation to authorize: give operationName when the document holds several. Validate the document first.');
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
    const decision = plan({
      schema,
      requirements,
      owned: rules.owned,
      document,
      operation,
      variables: coerced.coerced ?? variables ?? {},
      caller,
    });
    if (entry.decisions.size >= cacheSize) entry.decisions.clear();
    entry.decisions.set(key, decision);
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
  };
}

function conditionVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'skip' && node.name.value !== 'include') return;
      for (const argument of node.arguments ?? []) {
        if (argument.value.kind === Kind.VARIABLE) names.add(argument.value.name.value);
      }
    },
  });
  return [...names].sort();
}
