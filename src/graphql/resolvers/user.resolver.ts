import { Ctx, Query, Resolver } from 'type-graphql';
import { ErrorCode, GatewayError } from '../../errors.js';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { SessionInfo } from '../types/session-info.type.js';
import { User } from '../types/user.type.js';

@Resolver()
export class UserResolver {
  @Authorized()
  @Query(() => User, { description: 'The signed-in user.' })
  async me(@Ctx() context: GatewayContext): Promise<User> {
    const viewer = requireViewer(context.viewer, []);
    const user = await context.auth.getUser(viewer.userId);
    // A valid token for a deleted account: the holder is no longer anybody.
    if (!user) throw new GatewayError(ErrorCode.UNAUTHENTICATED);
    return User.from(user);
  }

  @Authorized()
  @Query(() => SessionInfo, { description: 'The current session as the access token states it. Needs no database read.' })
  currentSession(@Ctx() context: GatewayContext): SessionInfo {
    const viewer = requireViewer(context.viewer, []);
    return Object.assign(new SessionInfo(), {
      id: viewer.sessionId,
      accessTokenExpiresAt: new Date(viewer.expiresAt * 1000),
      roles: [...viewer.roles],
      amr: [...viewer.amr],
      authTime: viewer.authTime > 0 ? new Date(viewer.authTime * 1000) : null,
    });
  }
}
