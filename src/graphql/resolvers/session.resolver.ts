import { Args, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GatewayContext } from '../context.js';
import { LoginArgs, SignUpArgs } from '../inputs/credentials.args.js';
import { LoginPayload } from '../types/login-payload.type.js';
import { TokenDelivery } from '../types/token-delivery.type.js';

@Resolver()
export class SessionResolver {
  @Mutation(() => LoginPayload, {
    description:
      'Signs in. Unknown email and wrong password both answer INVALID_CREDENTIALS. By default the tokens are set as HttpOnly cookies; `delivery: BODY` returns them instead.',
  })
  async login(@Args(() => LoginArgs) args: LoginArgs, @Ctx() context: GatewayContext): Promise<LoginPayload> {
    const session = await context.auth.signIn({ email: args.email, password: args.password, client: context.client });
    if (args.delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return LoginPayload.from(session, args.delivery);
  }

  @Mutation(() => Boolean, {
    description:
      'Creates an account when sign-up is enabled (SIGNUP_DISABLED otherwise). Answers true whether or not the email was already registered; then sign in with `login`.',
  })
  async signUp(@Args(() => SignUpArgs) args: SignUpArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.signUp({ email: args.email, password: args.password });
    return true;
  }
}
