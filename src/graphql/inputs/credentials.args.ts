import { ArgsType, Field } from 'type-graphql';
import { TokenDelivery } from '../types/token-delivery.type.js';

/** Classes rather than separate @Arg parameters, so schema.graphql lists the arguments in this order. */
@ArgsType()
export class SignUpArgs {
  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;
}

@ArgsType()
export class LoginArgs extends SignUpArgs {
  @Field(() => TokenDelivery, { defaultValue: TokenDelivery.COOKIE })
  delivery!: TokenDelivery;
}
