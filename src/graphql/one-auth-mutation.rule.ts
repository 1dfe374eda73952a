import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

/** The mutations that check a credential or start, rotate or end a session. */
export const AUTH_MUTATIONS: readonly string[] = Object.freeze(['login', 'signUp', 'refresh', 'logout', 'verifySecondFactor', 'reauthenticate', 'loginWithPasskey']);

/**
 * At most one auth mutation per operation: without it, one request carries a dozen `login` fields through
 * aliases (a dozen guesses for one round trip), or mixes `login` with `logout`. Counted through fragments and
 * inline fragments, since both reach the root. graphql-armor bounds aliases in general, not fields by name, so
 * this is a rule of its own; a refusal is an ordinary validation error (GRAPHQL_VALIDATION_FAILED, HTTP 400),
 * before any field runs.
 */
export const oneAuthMutationPerOperation: ValidationRule = (context: ValidationContext): ASTVisitor => ({
  OperationDefinition(operation) {
    if (operation.operation !== 'mutation') return;
    const found = countAuthFields(context, operation.selectionSet, new Set());
    if (found > 1) {
      context.reportError(
        new GraphQLError(`An operation may contain at most one of ${AUTH_MUTATIONS.join(', ')}; this one has ${found}. Send them as separate requests.`, {
          nodes: operation,
        }),
      );
    }
  },
});

function countAuthFields(context: ValidationContext, selectionSet: SelectionSetNode, seenFragments: Set<string>): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (AUTH_MUTATIONS.includes(selection.name.value)) count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += countAuthFields(context, selection.selectionSet, seenFragments);
    } else if (!seenFragments.has(selection.name.value)) {
      // A fragment cycle is refused by graphql-js's own NoFragmentCycles rule; here it must only not loop.
      seenFragments.add(selection.name.value);
      const fragment = context.getFragment(selection.name.value);
      if (fragment) count += countAuthFields(context, fragment.selectionSet, seenFragments);
    }
  }
  return count;
}
