import { GraphQLJSON } from 'graphql-scalars';
import { Args, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { LoginWithPasskeyArgs, PasskeyIdArgs, RegisterPasskeyArgs, RenamePasskeyArgs } from '../inputs/passkey.args.js';
import { Passkey } from '../types/passkey.type.js';
import { SessionPayload } from '../types/session-payload.type.js';
import { TokenDelivery } from '../types/token-delivery.type.js';

/** Passkeys (WebAuthn): adding them while signed in, and signing in with one without typing an email. */
@Resolver()
export class PasskeysResolver {
  @Authorized()
  @Mutation(() => GraphQLJSON, {
    description:
      'Options for navigator.credentials.create() (PublicKeyCredentialCreationOptionsJSON) to add a passkey; the challenge is bound to this session and expires in 5 minutes. Needs a recent sign-in.',
  })
  async passkeyRegistrationOptions(@Ctx() context: GatewayContext): Promise<unknown> {
    return context.auth.passkeyRegistrationOptions(requireViewer(context.viewer, []));
  }

  @Authorized()
  @Mutation(() => Passkey, { description: 'Adds the passkey the browser created. PASSKEY_INVALID when it cannot be verified. Needs a recent sign-in.' })
  async registerPasskey(@Args(() => RegisterPasskeyArgs) args: RegisterPasskeyArgs, @Ctx() context: GatewayContext): Promise<Passkey> {
    const viewer = requireViewer(context.viewer, []);
    return Passkey.from(await context.auth.registerPasskey(viewer, { response: args.response, name: args.name ?? undefined, client: context.client }));
  }

  @Mutation(() => GraphQLJSON, {
    description:
      'Options for navigator.credentials.get() (PublicKeyCredentialRequestOptionsJSON) to sign in with a passkey, no email needed. The challenge is bound to a 5-minute cookie this answer sets.',
  })
  async passkeyLoginOptions(@Ctx() context: GatewayContext): Promise<unknown> {
    const { options, binding, maxAgeSeconds } = await context.auth.passkeyLoginOptions(context.client);
    context.transport.setPasskeyCookie?.(binding, maxAgeSeconds);
    return options;
  }

  @Mutation(() => SessionPayload, {
    description:
      'Signs in with the assertion navigator.credentials.get() returned: the same session as `login`, counted as multi-factor. PASSKEY_INVALID for any failure; PASSKEY_CHALLENGE_EXPIRED when the options are older than 5 minutes.',
  })
  async loginWithPasskey(@Args(() => LoginWithPasskeyArgs) args: LoginWithPasskeyArgs, @Ctx() context: GatewayContext): Promise<SessionPayload> {
    const session = await context.auth.loginWithPasskey({ response: args.response, binding: context.passkeyCookie, client: context.client });
    if (args.delivery === TokenDelivery.COOKIE) context.transport.setSessionCookies(session);
    return SessionPayload.from(session, args.delivery);
  }

  @Authorized()
  @Query(() => [Passkey], { description: 'My passkeys, oldest first.' })
  async myPasskeys(@Ctx() context: GatewayContext): Promise<Passkey[]> {
    return (await context.auth.listPasskeys(requireViewer(context.viewer, []))).map((passkey) => Passkey.from(passkey));
  }

  @Authorized()
  @Mutation(() => Passkey, { description: 'Renames one of my passkeys. NOT_FOUND for an id that is not mine.' })
  async renamePasskey(@Args(() => RenamePasskeyArgs) args: RenamePasskeyArgs, @Ctx() context: GatewayContext): Promise<Passkey> {
    return Passkey.from(await context.auth.renamePasskey(requireViewer(context.viewer, []), args.id, args.name));
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'Removes one of my passkeys: it signs in nowhere from now on. Needs a recent sign-in.' })
  async removePasskey(@Args(() => PasskeyIdArgs) args: PasskeyIdArgs, @Ctx() context: GatewayContext): Promise<boolean> {
    await context.auth.removePasskey(requireViewer(context.viewer, []), args.id, context.client);
    return true;
  }
}
