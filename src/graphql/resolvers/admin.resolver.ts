import { Arg, Args, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { Role } from '../../auth/roles.js';
import { ErrorCode, GatewayError } from '../../errors.js';
import { Authorized } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { UserIdArgs } from '../inputs/session.args.js';
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
}
