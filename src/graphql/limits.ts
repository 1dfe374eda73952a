import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ASTVisitor, type DirectiveNode, type ParseOptions, type ValidationContext, type ValidationRule } from 'graphql';

/**
 * Bounds on what one document may ask for, so no request makes the server do unbounded work: depth, aliases,
 * repeated directives, tokens (which also bounds document size and duplicate fields) and an estimated cost.
 * The gateway's own operations use a fraction of each (depth 3, no aliases, about 60 tokens).
 */
export const GRAPHQL_LIMITS = Object.freeze({
  maxDepth: 12,
  maxAliases: 15,
  maxDirectives: 20,
  /** On one field, fragment spread or inline fragment (@include and @skip together are two). */
  maxDirectivesPerField: 3,
  maxTokens: 2000,
  maxCost: 5000,
});

export function graphqlLimits(options: { hideSuggestions: boolean }): {
  plugins: ApolloServerPlugin[];
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
} {
  // Each limit reports through reportLimit, which marks its error as a refusal (see oneRefusal below).
  const refusal = { propagateOnRejection: false, onReject: [reportLimit] };
  const { plugins, validationRules } = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth, ...refusal },
    // graphql-armor leaves aliases of __typename out by default; they cost a field each all the same.
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases, allowList: [], ...refusal },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives, ...refusal },
    // The token limit is graphql-js's own (parseOptions below). graphql-armor's Apollo plugin for it parses in
    // parsingDidStart, where Apollo treats any throw as unexpected: every syntax error then answered HTTP 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost, ...refusal },
    // "Did you mean …" answers describe the schema to whoever probes it.
    blockFieldSuggestion: { enabled: options.hideSuggestions },
  }).protect();
  // graphql-armor is typed against Apollo's CommonJS declarations; the plugin objects are the same at run time.
  const all = plugins as unknown as ApolloServerPlugin[];
  all.push(oneRefusal);
  if (options.hideSuggestions) all.push(hideAllSuggestions);
  return {
    plugins: all,
    validationRules: [...validationRules, maxDirectivesPerField(GRAPHQL_LIMITS.maxDirectivesPerField)],
    parseOptions: { maxTokens: GRAPHQL_LIMITS.maxTokens },
  };
}

/** The errors of the limits above, told apart from the other validation errors by identity. */
const limitErrors = new WeakSet<GraphQLError>();

/** graphql-armor's default reporter, plus the mark. Apollo then answers it GRAPHQL_VALIDATION_FAILED (HTTP 400). */
function reportLimit(context: ValidationContext | null, error: GraphQLError): void {
  const refusal = new GraphQLError(error.message);
  limitErrors.add(refusal);
  context?.reportError(refusal);
}

/**
 * graphql-armor counts directives per document only, and graphql-js reports a repeated directive once per
 * repetition (and an unknown one once per use). This small rule refuses a field (or fragment) carrying more than
 * `max` directives, once per document, so that the limit error is there for oneRefusal to keep. Written here
 * because no maintained rule counts per field.
 */
export function maxDirectivesPerField(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    let reported = false;
    const check = (node: { readonly directives?: readonly DirectiveNode[] | undefined }): void => {
      const count = node.directives?.length ?? 0;
      if (count <= max || reported) return;
      reported = true;
      reportLimit(context, new GraphQLError(`Syntax Error: Directives limit of ${max} per field exceeded, found ${count}.`));
    };
    return { Field: check, FragmentSpread: check, InlineFragment: check };
  };
}

/**
 * A document over a limit gets one answer, that refusal, instead of the limit error buried among the errors
 * the other rules found in the same document (one per repeated directive, say). Apollo hands validationDidStart's
 * end hook the very array it then answers with, so trimming it in place trims the answer.
 */
const oneRefusal: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async validationDidStart() {
        return async (errors?: readonly Error[]): Promise<void> => {
          const refusal = errors?.find((error) => error instanceof GraphQLError && limitErrors.has(error));
          if (errors && refusal) (errors as Error[]).splice(0, errors.length, refusal);
        };
      },
    };
  },
};

/**
 * Apollo strips suggestions from validation errors only, and graphql-armor only those of the form
 * `Did you mean "x"`: a variable's error (`Did you mean the enum value "BODY"?`) would still list the schema.
 */
const hideAllSuggestions: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors }) {
        for (const error of errors) error.message = error.message.replace(/ ?Did you mean .+?\?$/s, '');
      },
    };
  },
};
