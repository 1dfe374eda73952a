import { getOperationAST, Kind, type DocumentNode, type SelectionSetNode } from 'graphql';

const cache = new WeakMap<DocumentNode, Map<string, boolean>>();

/**
 * Whether an operation selects `__schema` or `__type` at its root (directly or through fragments). Such an
 * operation is answered by the gateway from the composed schema, never sent upstream: an upstream would answer it
 * from its whole real schema, including what the operator left out of UPSTREAM_SCHEMA_<NAME>. `__typename` does
 * not count: it names a type the client already sees. Cached per document object, like the planner's decisions.
 */
export function selectsIntrospection(document: DocumentNode, operationName?: string | null): boolean {
  let byOperation = cache.get(document);
  if (!byOperation) {
    byOperation = new Map();
    cache.set(document, byOperation);
  }
  const key = operationName ?? '';
  let found = byOperation.get(key);
  if (found === undefined) {
    const operation = getOperationAST(document, operationName);
    found = operation ? walk(document, operation.selectionSet, new Set()) : false;
    // Only operation names the document defines are kept: an unknown name is answered (false) but not stored.
    if (operation) byOperation.set(key, found);
  }
  return found;
}

function walk(document: DocumentNode, set: SelectionSetNode, seen: Set<string>): boolean {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (selection.name.value === '__schema' || selection.name.value === '__type') return true;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (walk(document, selection.selectionSet, seen)) return true;
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION && walk(document, fragment.selectionSet, seen)) return true;
    }
  }
  return false;
}
