import { ArgsType, Field } from 'type-graphql';
import { TokenDelivery } from '../types/token-delivery.type.js';

@ArgsType()
export class CodeArgs {
  @Field(() => String, { description: 'A 6-digit code from the authenticator app (or, where accepted, a recovery code).' })
  code!: string;
}

@ArgsType()
export class VerifySecondFactorArgs {
  @Field(() => String, { description: '`extensions.challenge` of the MFA_REQUIRED answer.' })
  challenge!: string;

  @Field(() => String, { description: 'A 6-digit TOTP code, or one of the recovery codes.' })
  code!: string;

  @Field(() => TokenDelivery, { defaultValue: TokenDelivery.COOKIE })
  delivery!: TokenDelivery;
}

@ArgsType()
export class ReauthenticateArgs {
  @Field(() => String)
  password!: string;

  @Field(() => TokenDelivery, { defaultValue: TokenDelivery.COOKIE })
  delivery!: TokenDelivery;
}
