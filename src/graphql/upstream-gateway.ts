import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import type { Composition } from '../upstreams/compose.js';
import type { GatewayExecution } from '../upstreams/execute.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { GatewayContext } from './context.js';

// The interface's own package is a dependency of @apollo/server's, not ours: its types are reached through it.
type GatewayInterface = ApolloServerOptionsWithGateway<GatewayContext>['gateway'];
type GatewayExecutor = NonNullable<Awaited<ReturnType<GatewayInterface['load']>>['executor']>;

/**
 * Apollo Server's swappable-schema hook (its `gateway` option, still part of Apollo Server 5): Apollo parses,
 * validates (limits, introspection rule) against the composed schema it was last given, then hands every
 * operation to the executor. The composition that matches the schema a request was validated against runs it,
 * so a swap in the middle of a request cannot mix two schemas.
 */
export function upstreamGateway(registry: UpstreamRegistry, execution: GatewayExecution): GatewayInterface {
  const bySchema = new WeakMap<GraphQLSchema, Composition>();
  const listeners = new Set<(schemaContext: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void>();
  let unsubscribe: (() => void) | undefined;

  const publish = (composition: Composition): void => {
    bySchema.set(composition.apiSchema, composition);
    for (const listener of listeners) listener({ apiSchema: composition.apiSchema, coreSupergraphSdl: '' });
  };

  const executor: GatewayExecutor = async (requestContext) => {
    const context = requestContext.context as GatewayContext;
    const composition = bySchema.get(requestContext.schema) ?? registry.current();
    const headers = requestContext.request.http?.headers;
    return execution(composition, {
      document: requestContext.document,
      operationName: requestContext.operationName,
      variables: requestContext.request.variables,
      viewer: context.viewer,
      context,
      header: (name) => headers?.get(name),
    });
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    async load() {
      // The registry has already started (app.ts refuses the start on schema problems before Apollo starts).
      publish(registry.current());
      unsubscribe = registry.onUpdate(publish);
      return { executor };
    },
    async stop() {
      unsubscribe?.();
      registry.stop();
    },
  };
}
