import { Args, Ctx, Mutation, Resolver } from 'type-graphql';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.js';
import type { GatewayContext } from '../context.js';
import { LoginArgs, SignUpArgs } from '../inputs/credentials.args.js';
import { LogoutArgs, RefreshArgs } from '../inputs/session.args.js';
import { SessionPayload } from '../types/session-payload.type.js';
import { TokenDelivery } from '../types/token-delivery.type.js';

/** The public auth mutations, also served at /graphql/auth where the refresh cookie travels. */
@Resolver()
export class SessionResolver {
  @Mutation(() => SessionPayload, {
    description:
      'Signs in and starts a session. Unknown email and wrong password both answer INVALID_CREDENTIALS. By default the tokens are set as HttpOnly cookies; `delivery: BODY` returns them instead.',
  })
  async login(@Args(() => LoginArgs) args: LoginArgs, @Ctx() context: GatewayContext): Promise<SessionPayload> {
    const session = await context.auth.signIn({ email: args.email, password: args.password, client: context.client });
    if (args.delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return SessionPayload.from(session, args.delivery);
  }

  @Mutation(() => Boolean, {
    description:
      'Creates an account when sign-up is enabled (SIGNUP_DISABLED otherwise). Answers true whether or not the email was already registered; then sign in with `login`.',
  })
  async signUp(@Args(() => SignUpArgs) args: SignUpArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.signUp({ email: args.email, password: args.password, client: context.client });
    return true;
  }

  @Mutation(() => SessionPayload, {
    description:
      'Exchanges a refresh token (the cookie, or `refreshToken`) for a new access token and a new refresh token; the old refresh token is spent. REFRESH_TOKEN_INVALID: sign in again. REFRESH_TOKEN_REUSED: a spent token was presented again, and the session has been revoked.',
  })
  async refresh(@Args(() => RefreshArgs) args: RefreshArgs, @Ctx() context: GatewayContext): Promise<SessionPayload> {
    const fromCookie = typeof args.refreshToken !== 'string';
    const refreshToken = args.refreshToken ?? context.refreshCookie ?? '';
    // A token that came in an HttpOnly cookie goes back only in cookies: in the body, any script on an allowed
    // origin (or the playground) could lift it, which is what HttpOnly is there to prevent.
    const delivery = fromCookie ? TokenDelivery.COOKIE : (args.delivery ?? TokenDelivery.BODY);
    if (fromCookie && context.refreshCookieShadowed) {
      // Two refresh cookies: one was planted (a sibling subdomain can set one for the parent domain). Neither is
      // used; clearing both lets the next login start clean.
      context.transport.clearSessionCookies();
      throw new GatewayError(ErrorCode.REFRESH_TOKEN_INVALID);
    }
    try {
      const session = await context.auth.refresh({ refreshToken, client: context.client });
      if (delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
      return SessionPayload.from(session, delivery);
    } catch (error) {
      // A dead session's cookies are useless; clearing them spares the client a loop of failing refreshes.
      const ended = isGatewayError(error) && (error.code === ErrorCode.REFRESH_TOKEN_INVALID || error.code === ErrorCode.REFRESH_TOKEN_REUSED);
      if (ended && delivery === TokenDelivery.COOKIE) context.transport.clearSessionCookies();
      throw error;
    }
  }

  @Mutation(() => Boolean, {
    description:
      'Ends this session: its refresh tokens stop working and its access tokens are refused from now on, on every gateway instance within a second. Clears the cookies. Always true.',
  })
  async logout(@Args(() => LogoutArgs) args: LogoutArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.logout({ viewer: context.viewer, refreshToken: args.refreshToken ?? context.refreshCookie, accessToken: context.presentedAccessToken });
    context.transport.clearSessionCookies();
    return true;
  }
}
