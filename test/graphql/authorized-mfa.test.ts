import { graphql, type GraphQLSchema } from 'graphql';
import { Query, Resolver, buildSchemaSync } from 'type-graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuthService, Viewer } from '../../src/auth/auth-service.js';
import { ErrorCode, ForbiddenReason } from '../../src/errors.js';
import { Authorized, authorizedDirective, enforceAuthorized } from '../../src/graphql/authorized.js';
import type { GatewayContext } from '../../src/graphql/context.js';
import { printGatewaySchema } from '../../src/graphql/schema.js';

@Resolver()
class VaultResolver {
  @Authorized({ mfa: true })
  @Query(() => String)
  vault(): string {
    return 'the vault';
  }

  @Authorized({ roles: ['ADMIN'], mfa: true })
  @Query(() => String)
  adminVault(): string {
    return 'the admin vault';
  }

  @Authorized()
  @Query(() => String)
  lobby(): string {
    return 'the lobby';
  }
}

const viewer = (roles: string[], amr: string[], enrollmentOnly = false): Viewer => ({
  kind: 'user',
  userId: 'u1',
  sessionId: 's1',
  tokenId: 't1',
  roles,
  expiresAt: 2_000_000_000,
  amr,
  authTime: 1_900_000_000,
  enrollmentOnly,
});

async function run(schema: GraphQLSchema, source: string, who: Viewer): Promise<Awaited<ReturnType<typeof graphql>>> {
  const contextValue: GatewayContext = {
    endpoint: 'api',
    refreshCookie: undefined,
    refreshCookieShadowed: false,
    viewer: who,
    auth: {} as AuthService,
    oidc: {} as GatewayContext['oidc'],
    client: { userAgent: null, address: null },
    transport: { setSessionCookies: () => {}, clearSessionCookies: () => {} },
  };
  return graphql({ schema, source, contextValue });
}

describe('@authorized(mfa: true) on the gateway\'s own fields', () => {
  let schema: GraphQLSchema;
  beforeAll(() => {
    schema = enforceAuthorized(buildSchemaSync({ resolvers: [VaultResolver], directives: [authorizedDirective], validate: false }));
  });

  it('is printed with its argument', () => {
    const printed = printGatewaySchema(schema);
    expect(printed).toMatch(/^\s*vault: String! @authorized\(mfa: true\)$/m);
    expect(printed).toMatch(/^\s*adminVault: String! @authorized\(roles: \["ADMIN"\], mfa: true\)$/m);
  });

  it('refuses a password-only session with FORBIDDEN and reason MFA_REQUIRED', async () => {
    const result = await run(schema, '{ vault }', viewer(['USER'], ['pwd']));
    expect(result.data).toBeNull();
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.FORBIDDEN, reason: ForbiddenReason.MFA_REQUIRED });
  });

  it('admits a session with a second factor or a passkey', async () => {
    expect((await run(schema, '{ vault }', viewer(['USER'], ['pwd', 'otp', 'mfa']))).data).toEqual({ vault: 'the vault' });
    expect((await run(schema, '{ vault }', viewer(['USER'], ['hwk', 'user', 'mfa']))).data).toEqual({ vault: 'the vault' });
  });

  it('combines with roles: the role is decided first, and names no second factor to a caller without it', async () => {
    const noRole = await run(schema, '{ adminVault }', viewer(['USER'], ['pwd', 'otp', 'mfa']));
    expect(noRole.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.FORBIDDEN, reason: undefined });
    const noFactor = await run(schema, '{ adminVault }', viewer(['ADMIN'], ['pwd']));
    expect(noFactor.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.FORBIDDEN, reason: ForbiddenReason.MFA_REQUIRED });
    expect((await run(schema, '{ adminVault }', viewer(['ADMIN'], ['pwd', 'otp', 'mfa']))).data).toEqual({ adminVault: 'the admin vault' });
  });

  it('answers an enrollment-only session MFA_ENROLLMENT_REQUIRED on root fields outside enrollment', async () => {
    const result = await run(schema, '{ lobby }', viewer(['ADMIN'], ['pwd'], true));
    expect(result.errors?.[0]?.originalError).toMatchObject({ code: ErrorCode.MFA_ENROLLMENT_REQUIRED });
    expect((await run(schema, '{ lobby }', viewer(['ADMIN'], ['pwd']))).data).toEqual({ lobby: 'the lobby' });
  });
});
