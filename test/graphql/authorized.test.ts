import { readFileSync } from 'node:fs';
import { graphql, type GraphQLSchema } from 'graphql';
import { Query, Resolver, buildSchemaSync } from 'type-graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuthService, Viewer } from '../../src/auth/auth-service.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { authorizedDirective } from '../../src/graphql/authorized.js';
import type { GatewayContext } from '../../src/graphql/context.js';
import { buildGatewaySchema, PUBLIC_ROOT_FIELDS, printGatewaySchema, requireGuardedRootFields, unguardedRootFields } from '../../src/graphql/schema.js';

@Resolver()
class LeakyResolver {
  @Query(() => String)
  leaky(): string {
    return 'anyone can read this';
  }
}

const user = (roles: string[]): Viewer => ({ kind: 'user', userId: 'u1', sessionId: 's1', tokenId: 't1', roles, expiresAt: 2_000_000_000, amr: ['pwd'], authTime: 0, enrollmentOnly: false });

/** Only what the guarded example fields touch; the guard runs before any of it. */
const auth = { listUsers: async () => [] } as unknown as AuthService;

async function run(schema: GraphQLSchema, source: string, viewer: Viewer): Promise<Awaited<ReturnType<typeof graphql>>> {
  const contextValue: GatewayContext = {
    endpoint: 'api',
    refreshCookie: undefined,
    refreshCookieShadowed: false,
    viewer,
    auth,
    oidc: {} as GatewayContext['oidc'],
    client: { userAgent: null, address: null },
    transport: { setSessionCookies: () => {}, clearSessionCookies: () => {} },
  };
  return graphql({ schema, source, contextValue });
}

describe('@authorized', () => {
  let schema: GraphQLSchema;
  beforeAll(() => {
    schema = buildGatewaySchema();
  });

  it('guards every root field that is not explicitly public (deny by default)', () => {
    expect(PUBLIC_ROOT_FIELDS).toEqual([
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
    expect(unguardedRootFields(schema)).toEqual([]);
  });

  it('refuses to build a schema with a root field that has neither @authorized nor a place on the public list', () => {
    const leaky = buildSchemaSync({ resolvers: [LeakyResolver], directives: [authorizedDirective], validate: false });
    expect(unguardedRootFields(leaky)).toEqual(['Query.leaky']);
    expect(() => requireGuardedRootFields(leaky)).toThrow(/Query\.leaky/);
    expect(() => requireGuardedRootFields(schema)).not.toThrow();
  });

  it('is printed in the committed schema.graphql, definition and usages, exactly as the code builds it', () => {
    const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    const printed = printGatewaySchema(schema);
    expect(committed.endsWith(printed)).toBe(true);
    expect(printed).toContain('directive @authorized(roles: [String!], mfa: Boolean) on FIELD_DEFINITION');
    expect(printed).toMatch(/^\s*me: User! @authorized$/m);
    expect(printed).toMatch(/^\s*users\(.*\): \[User!\]! @authorized\(roles: \["ADMIN"\]\)$/m);
  });

  it('refuses a guest with UNAUTHENTICATED and no reason', async () => {
    const result = await run(schema, '{ currentSession { id } }', { kind: 'guest' });
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, reason: undefined });
  });

  it('refuses a guest on a role-guarded field with UNAUTHENTICATED, not FORBIDDEN', async () => {
    const result = await run(schema, '{ users { id } }', { kind: 'guest' });
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
  });

  it('passes on the reason of a rejected token so clients know to refresh', async () => {
    const result = await run(schema, '{ currentSession { id } }', { kind: 'rejected', reason: TokenRejection.TOKEN_EXPIRED });
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_EXPIRED });
  });

  it('refuses a signed-in user without the role with FORBIDDEN', async () => {
    const result = await run(schema, '{ users { id } }', user(['USER']));
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.FORBIDDEN });
  });

  it('lets a user with the role through', async () => {
    const result = await run(schema, '{ users { id } }', user(['USER', 'ADMIN']));
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ users: [] });
  });

  it('lets any signed-in user through a field without roles', async () => {
    const result = await run(schema, '{ currentSession { id roles } }', user([]));
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ currentSession: { id: 's1', roles: [] } });
  });
});
