import { Field, ObjectType } from 'type-graphql';
import type { IssuedSession } from '../../auth/auth-service.js';
import { TokenDelivery } from './token-delivery.type.js';
import { User } from './user.type.js';

@ObjectType({ description: 'The credentials of a session, from login or refresh.' })
export class SessionPayload {
  @Field(() => User)
  user!: User;

  @Field(() => Date, { description: 'When the access token expires; refresh before then.' })
  accessTokenExpiresAt!: Date;

  @Field(() => Date, { description: 'When the refresh token expires if unused.' })
  refreshTokenExpiresAt!: Date;

  @Field(() => String, { nullable: true, description: 'Only with `delivery: BODY`. Send it as `Authorization: Bearer`.' })
  accessToken!: string | null;

  @Field(() => String, { nullable: true, description: 'Only with `delivery: BODY`. Keep it secret; it works once (see `refresh`).' })
  refreshToken!: string | null;

  static from(result: IssuedSession, delivery: TokenDelivery): SessionPayload {
    const inBody = delivery === TokenDelivery.BODY;
    return Object.assign(new SessionPayload(), {
      user: User.from(result.user),
      accessTokenExpiresAt: new Date(result.accessToken.claims.expiresAt * 1000),
      refreshTokenExpiresAt: result.refreshTokenExpiresAt,
      accessToken: inBody ? result.accessToken.token : null,
      refreshToken: inBody ? result.refreshToken : null,
    });
  }
}
