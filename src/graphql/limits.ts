import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ValidationRule } from 'graphql';

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

export function graphqlLimits(options: { hideSuggestions: boolean }): { plugins: ApolloServerPlugin[]; validationRules: ValidationRule[] } {
  const { plugins, validationRules } = new ApolloArmor({
    maxDepth: { n: GRAPHQL_LIMITS.maxDepth },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives },
    maxTokens: { n: GRAPHQL_LIMITS.maxTokens },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost },
    // "Did you mean …" answers describe the schema to whoever probes it.
    blockFieldSuggestion: { enabled: options.hideSuggestions },
  }).protect();
  // graphql-armor is typed against Apollo's CommonJS declarations; the plugin objects are the same at run time.
  return { plugins: plugins as unknown as ApolloServerPlugin[], validationRules };
}
