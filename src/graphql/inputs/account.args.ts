import { ArgsType, Field } from 'type-graphql';

@ArgsType()
export class RequestPasswordResetArgs {
  @Field(() => String)
  email!: string;
}

@ArgsType()
export class ResetPasswordArgs {
  @Field(() => String, { description: 'The token from the link (after `#token=`).' })
  token!: string;

  @Field(() => String)
  newPassword!: string;
}

@ArgsType()
export class VerifyEmailArgs {
  @Field(() => String, { description: 'The token from the link (after `#token=`).' })
  token!: string;
}
