import { getDirective, printSchemaWithDirectives } from '@graphql-tools/utils';
import { specifiedDirectives, type GraphQLSchema } from 'graphql';
import { buildSchemaSync } from 'type-graphql';
import { ErrorCode, GatewayError } from '../errors.js';
import { AUTHORIZED, authorizedDirective, enforceAuthorized } from './authorized.js';
import { AccountResolver } from './resolvers/account.resolver.js';
import { AdminResolver } from './resolvers/admin.resolver.js';
import { SessionResolver } from './resolvers/session.resolver.js';
import { SessionEventsResolver } from './resolvers/session-events.resolver.js';
import { SessionsResolver } from './resolvers/sessions.resolver.js';
import { SignInMethodsFieldResolver, SignInResolver } from './resolvers/sign-in.resolver.js';
import { UserFieldsResolver } from './resolvers/user-fields.resolver.js';
import { UserResolver } from './resolvers/user.resolver.js';
import { SecondFactorResolver } from './resolvers/second-factor.resolver.js';
import { PasskeysResolver } from './resolvers/passkeys.resolver.js';

/**
 * Root fields anyone may call. Every other root field must carry `@authorized`: the schema refuses to build
 * otherwise, so a new resolver is denied by default until somebody decides.
 */
export const PUBLIC_ROOT_FIELDS: readonly string[] = Object.freeze([
  'Mutation.login',
  'Mutation.signUp',
  'Mutation.refresh',
  'Mutation.logout',
  'Mutation.requestPasswordReset',
  'Mutation.resetPassword',
  'Mutation.verifyEmail',
  'Query.signInProviders',
  'Mutation.verifySecondFactor',
  'Mutation.passkeyLoginOptions',
  'Mutation.loginWithPasskey',
]);

export function buildGatewaySchema(): GraphQLSchema {
  const schema = buildSchemaSync({
    resolvers: [SessionResolver, SessionsResolver, UserResolver, AdminResolver, AccountResolver, UserFieldsResolver, SignInResolver, SignInMethodsFieldResolver, SecondFactorResolver, PasskeysResolver, SessionEventsResolver],
    // type-graphql replaces graphql-js's directives with this list: keep @include, @skip, @deprecated and the rest.
    directives: [...specifiedDirectives, authorizedDirective],
    validate: false,
    // Each subscription brings its own event source (`subscribe:`, fed by src/live/); topics are never used, and
    // type-graphql refuses to build subscriptions without some PubSub.
    pubSub: { publish: () => undefined, subscribe: () => { throw new GatewayError(ErrorCode.INTERNAL_SERVER_ERROR); } },
    // type-graphql's own @Authorized is not how this gateway guards fields (see graphql/authorized.ts); if
    // somebody uses it by mistake it denies rather than running unchecked.
    authChecker: () => {
      throw new GatewayError(ErrorCode.FORBIDDEN);
    },
  });
  requireGuardedRootFields(schema);
  return enforceAuthorized(schema);
}

/** Throws, naming them, when any root field is neither guarded nor listed as public. */
export function requireGuardedRootFields(schema: GraphQLSchema): void {
  const unguarded = unguardedRootFields(schema);
  if (unguarded.length > 0) {
    throw new Error(
      `These root fields have neither @${AUTHORIZED} nor a place in PUBLIC_ROOT_FIELDS: ${unguarded.join(', ')}. ` +
        'Add @Authorized() to the resolver, or list the field in src/graphql/schema.ts if it really is public.',
    );
  }
}

/** Root fields that are neither guarded nor listed as public. */
export function unguardedRootFields(schema: GraphQLSchema): string[] {
  const found: string[] = [];
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (!root) continue;
    for (const field of Object.values(root.getFields())) {
      const name = `${root.name}.${field.name}`;
      if (!PUBLIC_ROOT_FIELDS.includes(name) && !getDirective(schema, field, AUTHORIZED)?.length) found.push(name);
    }
  }
  return found;
}

/** SDL with directive definitions and usages (graphql-js's printSchema drops the usages). */
export function printGatewaySchema(schema: GraphQLSchema): string {
  return `${printSchemaWithDirectives(schema).trim()}\n`;
}
