import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { CodeArgs, ReauthenticateArgs, VerifySecondFactorArgs } from '../inputs/second-factor.args.js';
import { SecondFactorStatus, TotpEnrollment } from '../types/second-factor.type.js';
import { SessionPayload } from '../types/session-payload.type.js';
import { TokenDelivery } from '../types/token-delivery.type.js';

/** TOTP, recovery codes, the second step of a sign-in, and re-authentication (docs/sign-in.md). */
@Resolver()
export class SecondFactorResolver {
  @Mutation(() => SessionPayload, {
    description:
      'Completes a sign-in that answered MFA_REQUIRED (or a step-up from `reauthenticate`) with a TOTP or recovery code. MFA_CODE_INVALID for a wrong or reused code; MFA_CHALLENGE_INVALID once the challenge is spent, expired or had 5 attempts.',
  })
  async verifySecondFactor(@Args(() => VerifySecondFactorArgs) args: VerifySecondFactorArgs, @Ctx() context: GatewayContext): Promise<SessionPayload> {
    const session = await context.auth.verifySecondFactor({ challenge: args.challenge, code: args.code, client: context.client });
    if (args.delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return SessionPayload.from(session, args.delivery);
  }

  @Authorized()
  @Mutation(() => SessionPayload, {
    description:
      'Proves the password again on this session, refreshing its authTime for operations that need a recent sign-in. With a second factor it answers MFA_REQUIRED; `verifySecondFactor` completes it on the same session.',
  })
  async reauthenticate(@Args(() => ReauthenticateArgs) args: ReauthenticateArgs, @Ctx() context: GatewayContext): Promise<SessionPayload> {
    const session = await context.auth.reauthenticate(requireViewer(context.viewer, []), { password: args.password, client: context.client });
    if (args.delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return SessionPayload.from(session, args.delivery);
  }

  @Authorized()
  @Query(() => SecondFactorStatus, { description: 'Whether I have a second factor, and how many recovery codes are left.' })
  async secondFactor(@Ctx() context: GatewayContext): Promise<SecondFactorStatus> {
    return SecondFactorStatus.from(await context.auth.secondFactorStatus(requireViewer(context.viewer, [])));
  }

  @Authorized()
  @Mutation(() => TotpEnrollment, { description: 'Starts enrolling an authenticator app. Needs a recent sign-in (REAUTHENTICATION_REQUIRED).' })
  async beginTotpEnrollment(@Ctx() context: GatewayContext): Promise<TotpEnrollment> {
    return TotpEnrollment.from(await context.auth.beginTotpEnrollment(requireViewer(context.viewer, []), context.client));
  }

  @Authorized()
  @Mutation(() => [String], {
    description:
      'Enables the authenticator app with its first code and returns 10 recovery codes, shown only now. From the next refresh this session counts as multi-factor.',
  })
  async confirmTotpEnrollment(@Args(() => CodeArgs) args: CodeArgs, @Ctx() context: GatewayContext): Promise<string[]> {
    return context.auth.confirmTotpEnrollment(requireViewer(context.viewer, []), args.code, context.client);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Turns the second factor off (a TOTP or recovery code confirms it); the recovery codes go with it.' })
  async disableTotp(@Args(() => CodeArgs) args: CodeArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.disableTotp(requireViewer(context.viewer, []), args.code, context.client);
    return true;
  }

  @Authorized()
  @Mutation(() => [String], { description: 'Replaces my recovery codes with 10 new ones (the old stop working), shown only now.' })
  async regenerateRecoveryCodes(@Args(() => CodeArgs) args: CodeArgs, @Ctx() context: GatewayContext): Promise<string[]> {
    return context.auth.regenerateRecoveryCodes(requireViewer(context.viewer, []), args.code, context.client);
  }
}
