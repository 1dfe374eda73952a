import { Args, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { ChangePasswordArgs, SessionIdArgs } from '../inputs/session.args.js';
import { Session } from '../types/session.type.js';

/** The signed-in user's own sessions. */
@Resolver()
export class SessionsResolver {
  @Authorized()
  @Query(() => [Session], { description: 'My live sessions, oldest first; `current` marks this one.' })
  async mySessions(@Ctx() context: GatewayContext): Promise<Session[]> {
    const viewer = requireViewer(context.viewer, []);
    const sessions = await context.auth.listSessions(viewer);
    return sessions.map((session) => Session.from(session, viewer.sessionId));
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Ends one of my sessions, by id. NOT_FOUND for an id that is not one of my live sessions.' })
  async revokeSession(@Args(() => SessionIdArgs) args: SessionIdArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    const viewer = requireViewer(context.viewer, []);
    await context.auth.revokeSession(viewer, args.id);
    if (args.id === viewer.sessionId) context.transport.clearSessionCookies();
    return true;
  }

  @Authorized()
  @Mutation(() => Int, { description: 'Ends every session of mine except this one; returns how many.' })
  async revokeOtherSessions(@Ctx() context: GatewayContext): Promise<number> {
    return context.auth.revokeOtherSessions(requireViewer(context.viewer, []));
  }

  @Authorized()
  @Mutation(() => Int, { description: 'Ends every session of mine, this one included, and clears the cookies; returns how many.' })
  async logoutEverywhere(@Ctx() context: GatewayContext): Promise<number> {
    const revoked = await context.auth.logoutEverywhere(requireViewer(context.viewer, []));
    context.transport.clearSessionCookies();
    return revoked;
  }

  @Authorized()
  @Mutation(() => Int, {
    description:
      'Changes my password after checking the current one (INVALID_CREDENTIALS if wrong) and ends every other session of mine; returns how many were ended.',
  })
  async changePassword(@Args(() => ChangePasswordArgs) args: ChangePasswordArgs, @Ctx() context: GatewayContext): Promise<number> {
    return context.auth.changePassword(requireViewer(context.viewer, []), { ...args, client: context.client });
  }
}
