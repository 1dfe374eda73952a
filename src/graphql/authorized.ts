import { mapSchema, getDirective, MapperKind } from '@graphql-tools/utils';
import {
  defaultFieldResolver,
  DirectiveLocation,
  GraphQLDirective,
  GraphQLList,
  GraphQLBoolean,
  GraphQLNonNull,
  GraphQLString,
  type GraphQLSchema,
} from 'graphql';
import { Directive } from 'type-graphql';
import type { SignedInViewer, Viewer } from '../auth/auth-service.js';
import type { Role } from '../auth/roles.js';
import { ErrorCode, ForbiddenReason, GatewayError } from '../errors.js';
import type { GatewayContext } from './context.js';

export const AUTHORIZED = 'authorized';

/** `@authorized` and `@authorized(roles: [...])`, as printed in schema.graphql. */
export const authorizedDirective = new GraphQLDirective({
  name: AUTHORIZED,
  description:
    'The field needs a valid access token. With `roles`, the signed-in user must also hold at least one of them. ' +
    'Guests get UNAUTHENTICATED; signed-in users without the role get FORBIDDEN. With `mfa: true`, only sessions that ' +
    'signed in with a second factor or a passkey pass; others get FORBIDDEN with extensions.reason MFA_REQUIRED.',
  locations: [DirectiveLocation.FIELD_DEFINITION],
  args: { roles: { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) }, mfa: { type: GraphQLBoolean } },
});

/**
 * Root fields a session that must first enroll a second factor (MFA_REQUIRED_ROLES) may still use: who it is,
 * enrolling, and re-authenticating. Every other guarded root field answers it MFA_ENROLLMENT_REQUIRED.
 */
export const ENROLLMENT_ROOT_FIELDS: readonly string[] = Object.freeze([
  'Query.me',
  'Query.currentSession',
  'Query.secondFactor',
  'Query.myPasskeys',
  'Mutation.beginTotpEnrollment',
  'Mutation.confirmTotpEnrollment',
  'Mutation.passkeyRegistrationOptions',
  'Mutation.registerPasskey',
  'Mutation.reauthenticate',
]);

/**
 * Marks a resolver field with `@authorized`. This only writes the directive into the schema; enforcement
 * comes from `enforceAuthorized`, which reads the directives back from the built schema. So what
 * schema.graphql shows is exactly what runs.
 */
export function Authorized(options: { roles?: readonly Role[]; mfa?: true } = {}): MethodDecorator & PropertyDecorator {
  const roles = options.roles ?? [];
  const args = [...(roles.length > 0 ? [`roles: ${JSON.stringify(roles)}`] : []), ...(options.mfa ? ['mfa: true'] : [])];
  return Directive(args.length === 0 ? `@${AUTHORIZED}` : `@${AUTHORIZED}(${args.join(', ')})`);
}

/** Wraps the resolver of every field that carries `@authorized` with the check. Fields without it are untouched. */
export function enforceAuthorized(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (fieldConfig, fieldName, typeName) => {
      const directive = getDirective(schema, fieldConfig, AUTHORIZED)?.[0];
      if (!directive) return fieldConfig;
      const roles: readonly string[] = (directive['roles'] as string[] | undefined) ?? [];
      const mfa = directive['mfa'] === true;
      const coordinate = `${typeName}.${fieldName}`;
      const root = typeName === schema.getQueryType()?.name || typeName === schema.getMutationType()?.name || typeName === schema.getSubscriptionType()?.name;
      const enrollmentChecked = root && !ENROLLMENT_ROOT_FIELDS.includes(coordinate);
      const resolve = fieldConfig.resolve ?? defaultFieldResolver;
      return {
        ...fieldConfig,
        resolve: (source, args, context: GatewayContext, info) => {
          const viewer = requireViewer(context.viewer, roles);
          if (enrollmentChecked && viewer.enrollmentOnly) throw new GatewayError(ErrorCode.MFA_ENROLLMENT_REQUIRED);
          if (mfa) requireMultiFactor(viewer);
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

/** `@authorized(mfa: true)`: a session that signed in with a second factor or a passkey (`amr` holds `mfa`). */
export function requireMultiFactor(viewer: SignedInViewer): SignedInViewer {
  if (!viewer.amr.includes('mfa')) throw new GatewayError(ErrorCode.FORBIDDEN, { reason: ForbiddenReason.MFA_REQUIRED });
  return viewer;
}
