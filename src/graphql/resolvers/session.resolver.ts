import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import type { GatewayContext } from '../context.js';
import { LoginPayload } from '../types/login-payload.type.js';
import { TokenDelivery } from '../types/token-delivery.type.js';

@Resolver()
export class SessionResolver {
  @Mutation(() => LoginPayload, {
    description:
      'Signs in. Unknown email and wrong password both answer INVALID_CREDENTIALS. By default the tokens are set as HttpOnly cookies; `delivery: BODY` returns them instead.',
  })
  async login(
    @Arg('email', () => String) email: string,
    @Arg('password', () => String) password: string,
    @Arg('delivery', () => TokenDelivery, { defaultValue: TokenDelivery.COOKIE }) delivery: TokenDelivery,
    @Ctx() context: GatewayContext,
  ): Promise<LoginPayload> {
    const session = await context.auth.signIn({ email, password, client: context.client });
    if (delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return LoginPayload.from(session, delivery);
  }

  @Mutation(() => Boolean, {
    description:
      'Creates an account when sign-up is enabled (SIGNUP_DISABLED otherwise). Answers true whether or not the email was already registered; then sign in with `login`.',
  })
  async signUp(
    @Arg('email', () => String) email: string,
    @Arg('password', () => String) password: string,
    @Ctx() context: GatewayContext,
  ): Promise<boolean> {
    await context.auth.signUp({ email, password });
    return true;
  }
}
