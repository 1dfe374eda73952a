import { mapSchema, getDirective, MapperKind } from '@graphql-tools/utils';
import {
  defaultFieldResolver,
  DirectiveLocation,
  GraphQLDirective,
  GraphQLList,
  GraphQLNonNull,
  GraphQLString,
  type GraphQLSchema,
} from 'graphql';
import { Directive } from 'type-graphql';
import type { SignedInViewer, Viewer } from '../auth/auth-service.js';
import type { Role } from '../auth/roles.js';
import { ErrorCode, GatewayError } from '../errors.js';
import type { GatewayContext } from './context.js';

export const AUTHORIZED = 'authorized';

/** `@authorized` and `@authorized(roles: [...])`, as printed in schema.graphql. */
export const authorizedDirective = new GraphQLDirective({
  name: AUTHORIZED,
  description:
    'The field needs a valid access token. With `roles`, the signed-in user must also hold at least one of them. ' +
    'Guests get UNAUTHENTICATED; signed-in users without the role get FORBIDDEN.',
  locations: [DirectiveLocation.FIELD_DEFINITION],
  args: { roles: { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) } },
});

/**
 * Marks a resolver field with `@authorized`. This only writes the directive into the schema; enforcement
 * comes from `enforceAuthorized`, which reads the directives back from the built schema. So what
 * schema.graphql shows is exactly what runs.
 */
export function Authorized(options: { roles?: readonly Role[] } = {}): MethodDecorator & PropertyDecorator {
  const roles = options.roles ?? [];
  return Directive(roles.length === 0 ? `@${AUTHORIZED}` : `@${AUTHORIZED}(roles: ${JSON.stringify(roles)})`);
}

/** Wraps the resolver of every field that carries `@authorized` with the check. Fields without it are untouched. */
export function enforceAuthorized(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig) => {
      const directive = getDirective(schema, fieldConfig, AUTHORIZED)?.[0];
      if (!directive) return fieldConfig;
      const roles: readonly string[] = (directive['roles'] as string[] | undefined) ?? [];
      const resolve = fieldConfig.resolve ?? defaultFieldResolver;
      return {
        ...fieldConfig,
        resolve: (source, args, context: GatewayContext, info) => {
          requireViewer(context.viewer, roles);
          return resolve(source, args, context, info);
        },
      };
    },
  });
}

/**
 * The decision itself. A rejected token answers UNAUTHENTICATED with its reason (so a client knows to refresh
 * an expired one); a guest answers UNAUTHENTICATED; a user without any of the roles answers FORBIDDEN.
 */
export function requireViewer(viewer: Viewer, roles: readonly string[]): SignedInViewer {
  if (viewer.kind === 'unavailable') throw new GatewayError(ErrorCode.SERVICE_UNAVAILABLE);
  if (viewer.kind === 'rejected') throw new GatewayError(ErrorCode.UNAUTHENTICATED, { reason: viewer.reason });
  if (viewer.kind === 'guest') throw new GatewayError(ErrorCode.UNAUTHENTICATED);
  if (roles.length > 0 && !roles.some((role) => viewer.roles.includes(role))) throw new GatewayError(ErrorCode.FORBIDDEN);
  return viewer;
}
