import { GraphQLJSON } from 'graphql-scalars';
import { ArgsType, Field, ID } from 'type-graphql';
import { TokenDelivery } from '../types/token-delivery.type.js';

@ArgsType()
export class RegisterPasskeyArgs {
  @Field(() => GraphQLJSON, { description: 'What navigator.credentials.create() returned, as JSON (e.g. from @simplewebauthn/browser startRegistration).' })
  response!: unknown;

  @Field(() => String, { nullable: true, description: 'A name to recognise it by, at most 64 characters.' })
  name?: string | null;
}

@ArgsType()
export class LoginWithPasskeyArgs {
  @Field(() => GraphQLJSON, { description: 'What navigator.credentials.get() returned, as JSON (e.g. from @simplewebauthn/browser startAuthentication).' })
  response!: unknown;

  @Field(() => TokenDelivery, { defaultValue: TokenDelivery.COOKIE })
  delivery!: TokenDelivery;
}

@ArgsType()
export class PasskeyIdArgs {
  @Field(() => ID)
  id!: string;
}

@ArgsType()
export class RenamePasskeyArgs extends PasskeyIdArgs {
  @Field(() => String)
  name!: string;
}
