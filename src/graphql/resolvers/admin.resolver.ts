import { Arg, Args, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { Role } from '../../auth/roles.js';
import { ErrorCode, GatewayError } from '../../errors.js';
import type { AdminActor } from '../../auth/auth-service.js';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { SetUserRolesArgs, UserIdArgs } from '../inputs/session.args.js';
import { User } from '../types/user.type.js';

const MAX_PAGE = 100;

@Resolver()
export class AdminResolver {
  @Authorized({ roles: [Role.ADMIN] })
  @Query(() => [User], { description: `Administrators only: the first \`limit\` users (at most ${MAX_PAGE}).` })
  async users(
    @Arg('limit', () => Int, { defaultValue: 20 }) limit: number,
    @Ctx() context: GatewayContext,
  ): Promise<User[]> {
    if (limit < 1 || limit > MAX_PAGE) throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'limit', detail: `limit must be 1 to ${MAX_PAGE}.` });
    const users = await context.auth.listUsers({ limit });
    return users.map((user) => User.from(user));
  }

  @Authorized({ roles: [Role.ADMIN] })
  @Mutation(() => Int, { description: 'Administrators only: ends every session of a user; returns how many.' })
  async revokeUserSessions(@Args(() => UserIdArgs) args: UserIdArgs, @Ctx() context: GatewayContext): Promise<number> {
    return context.auth.revokeUserSessions(args.userId);
  }

  @Authorized({ roles: [Role.ADMIN] })
  @Mutation(() => User, {
    description:
      "Administrators only: replaces a user's roles. Their access tokens lose any removed role on every instance within a second (FORBIDDEN from then on). NOT_FOUND for an unknown user; BAD_USER_INPUT for an unknown role or none.",
  })
  async setUserRoles(@Args(() => SetUserRolesArgs) args: SetUserRolesArgs, @Ctx() context: GatewayContext): Promise<User> {
    return User.from(await context.auth.setUserRoles(actorOf(context), args.userId, args.roles));
  }

  @Authorized({ roles: [Role.ADMIN] })
  @Mutation(() => User, {
    description:
      'Administrators only: disables an account. It cannot sign in or refresh, and its sessions and access tokens end on every instance within a second. NOT_FOUND for an unknown user.',
  })
  async disableUser(@Args(() => UserIdArgs) args: UserIdArgs, @Ctx() context: GatewayContext): Promise<User> {
    return User.from(await context.auth.disableUser(actorOf(context), args.userId));
  }

  @Authorized({ roles: [Role.ADMIN] })
  @Mutation(() => User, { description: 'Administrators only: lets a disabled account sign in again. NOT_FOUND for an unknown user.' })
  async enableUser(@Args(() => UserIdArgs) args: UserIdArgs, @Ctx() context: GatewayContext): Promise<User> {
    return User.from(await context.auth.enableUser(actorOf(context), args.userId));
  }
}

function actorOf(context: GatewayContext): AdminActor {
  return { kind: 'admin', viewer: requireViewer(context.viewer, [Role.ADMIN]), client: context.client };
}
