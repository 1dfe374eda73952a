import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ParseOptions, ValidationRule } from 'graphql';

/**
 * Bounds on what one document may ask for, so no request makes the server do unbounded work: depth, aliases,
 * repeated directives, tokens (which also bounds document size and duplicate fields) and an estimated cost.
 * The gateway's own operations use a fraction of each (depth 3, no aliases, about 60 tokens).
 */
export const GRAPHQL_LIMITS = Object.freeze({
  maxDepth: 12,
  maxAliases: 15,
  maxDirectives: 20,
  maxTokens: 2000,
  maxCost: 5000,
});

export function graphqlLimits(options: { hideSuggestions: boolean }): {
  plugins: ApolloServerPlugin[];
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
} {
  const { plugins, validationRules } = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives },
    // The token limit is graphql-js's own (parseOptions below). graphql-armor's Apollo plugin for it parses in
    // parsingDidStart, where Apollo treats any throw as unexpected: every syntax error then answered HTTP 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost },
    // "Did you mean …" answers describe the schema to whoever probes it.
    blockFieldSuggestion: { enabled: options.hideSuggestions },
  }).protect();
  // graphql-armor is typed against Apollo's CommonJS declarations; the plugin objects are the same at run time.
  const all = plugins as unknown as ApolloServerPlugin[];
  if (options.hideSuggestions) all.push(hideAllSuggestions);
  return { plugins: all, validationRules, parseOptions: { maxTokens: GRAPHQL_LIMITS.maxTokens } };
}

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
