import { Args, Ctx, Mutation, Resolver } from 'type-graphql';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { RequestPasswordResetArgs, ResetPasswordArgs, VerifyEmailArgs } from '../inputs/account.args.js';

/** Password reset and email verification by mailed link. The first, second and fourth are public (and at /graphql/auth). */
@Resolver()
export class AccountResolver {
  @Mutation(() => Boolean, {
    description:
      'Mails a password-reset link if an account has this email. Always answers true, in the same time, whether or not it does. RATE_LIMITED when asked too often; MAIL_DISABLED when no mail is configured.',
  })
  async requestPasswordReset(@Args(() => RequestPasswordResetArgs) args: RequestPasswordResetArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.requestPasswordReset({ email: args.email, client: context.client });
    return true;
  }

  @Mutation(() => Boolean, {
    description:
      'Sets a new password with the token from a reset link and ends every session of the account; does not sign in. RESET_TOKEN_INVALID for an unknown, used, expired or superseded token.',
  })
  async resetPassword(@Args(() => ResetPasswordArgs) args: ResetPasswordArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.resetPassword({ token: args.token, newPassword: args.newPassword, client: context.client });
    return true;
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Mails a new verification link to my address (nothing when it is already verified). Always true.' })
  async requestEmailVerification(@Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.requestEmailVerification(requireViewer(context.viewer, []), context.client);
    return true;
  }

  @Mutation(() => Boolean, {
    description: 'Marks an address verified with the token from a verification link. VERIFICATION_TOKEN_INVALID for an unknown, used, expired or superseded token.',
  })
  async verifyEmail(@Args(() => VerifyEmailArgs) args: VerifyEmailArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.verifyEmail({ token: args.token, client: context.client });
    return true;
  }
}
