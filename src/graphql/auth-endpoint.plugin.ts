import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, type OperationDefinitionNode } from 'graphql';
import { ErrorCode } from '../errors.js';
import type { GatewayContext } from './context.js';
import { PUBLIC_ROOT_FIELDS } from './schema.js';

/**
 * The operations served at /graphql/auth. The refresh cookie is scoped to that path, so nothing else runs there.
 * They are exactly the public root fields: every operation one can call without an access token belongs to
 * signing in, refreshing, signing out or recovering an account, and nothing that needs a token belongs here.
 */
export const AUTH_ROOT_FIELDS: readonly string[] = PUBLIC_ROOT_FIELDS;

/**
 * Keeps /graphql/auth to the auth mutations: a client cannot route its ordinary traffic through the path
 * that carries the refresh token. Checked after the operation is resolved, before any field runs.
 */
export function authEndpointPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      if (contextValue.endpoint !== 'auth') return;
      return {
        async didResolveOperation({ operation }) {
          if (!operation) return;
          const outside = rootFieldsOf(operation).filter((name) => !AUTH_ROOT_FIELDS.includes(name));
          if (outside.length > 0) {
            throw new GraphQLError(
              `Only the auth mutations (${AUTH_ROOT_FIELDS.map((name) => name.split('.')[1]).join(', ')}) are served at /graphql/auth; send ${outside.join(', ')} to /graphql.`,
              { extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 400 } } },
            );
          }
        },
      };
    },
  };
}

function rootFieldsOf(operation: OperationDefinitionNode): string[] {
  const root = operation.operation === 'query' ? 'Query' : operation.operation === 'mutation' ? 'Mutation' : 'Subscription';
  const names: string[] = [];
  for (const selection of operation.selectionSet.selections) {
    // Fragments at the root are refused too: the auth endpoint has no use for them.
    if (selection.kind !== Kind.FIELD) names.push(`${root}.<fragment>`);
    else if (selection.name.value !== '__typename') names.push(`${root}.${selection.name.value}`);
  }
  return names;
}
