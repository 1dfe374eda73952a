import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'The session the current access token belongs to, as the token states it.' })
export class SessionInfo {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  accessTokenExpiresAt!: Date;

  @Field(() => [String])
  roles!: string[];
}
