import { ArgsType, Field, ID } from 'type-graphql';
import { TokenDelivery } from '../types/token-delivery.type.js';

@ArgsType()
export class RefreshArgs {
  @Field(() => String, { nullable: true, description: 'For clients without cookies; browsers send the refresh cookie instead.' })
  refreshToken?: string | null;

  @Field(() => TokenDelivery, {
    nullable: true,
    description:
      'How the new tokens are returned when `refreshToken` is given (default BODY). A token taken from the refresh cookie is always answered with cookies only.',
  })
  delivery?: TokenDelivery | null;
}

@ArgsType()
export class LogoutArgs {
  @Field(() => String, { nullable: true, description: 'For clients without cookies and without a valid access token.' })
  refreshToken?: string | null;
}

@ArgsType()
export class SessionIdArgs {
  @Field(() => ID)
  id!: string;
}

@ArgsType()
export class UserIdArgs {
  @Field(() => ID)
  userId!: string;
}

@ArgsType()
export class SetUserRolesArgs {
  @Field(() => ID)
  userId!: string;

  @Field(() => [String], { description: 'The complete new set of roles (at least one), e.g. ["USER"]; replaces the old.' })
  roles!: string[];
}

@ArgsType()
export class ChangePasswordArgs {
  @Field(() => String)
  currentPassword!: string;

  @Field(() => String)
  newPassword!: string;
}
