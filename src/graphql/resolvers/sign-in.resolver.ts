import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { SignInMethod, SignInProvider } from '../types/sign-in.type.js';
import { User } from '../types/user.type.js';

/** Sign-in providers (OpenID Connect): the buttons an app draws, and the account's ways in. */
@Resolver()
export class SignInResolver {
  @Query(() => [SignInProvider], { description: 'The configured OpenID Connect providers, for drawing sign-in buttons. Public.' })
  signInProviders(@Ctx() context: GatewayContext): SignInProvider[] {
    return context.oidc.providers.map((provider) => SignInProvider.from(provider));
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: 'Unlinks a provider from my account. LAST_SIGN_IN_METHOD when it is my only way in; NOT_FOUND when it is not linked.',
  })
  async unlinkSignInProvider(@Arg('provider', () => String) provider: string, @Ctx() context: GatewayContext): Promise<boolean> {
    const viewer = requireViewer(context.viewer, []);
    // Removing a way in is sensitive: a stolen session must not strip the owner's provider.
    context.auth.requireRecentSignIn(viewer);
    await context.oidc.unlink({ userId: viewer.userId, sessionId: viewer.sessionId, provider, client: context.client });
    return true;
  }
}

/** User.signInMethods: a read of its own, made only when asked for. */
@Resolver(() => User)
export class SignInMethodsFieldResolver {
  @FieldResolver(() => [SignInMethod], { description: 'My ways in: the password (if one is set) and each linked provider.' })
  async signInMethods(@Root() user: User, @Ctx() context: GatewayContext): Promise<SignInMethod[]> {
    return (await context.oidc.signInMethods(user.id)).map((method) => SignInMethod.from(method));
  }
}
