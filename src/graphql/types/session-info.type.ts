import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'The session the current access token belongs to, as the token states it.' })
export class SessionInfo {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  accessTokenExpiresAt!: Date;

  @Field(() => [String])
  roles!: string[];

  @Field(() => [String], { description: 'How the session signed in (RFC 8176 amr); `mfa` when a second factor or a passkey was used.' })
  amr!: string[];

  @Field(() => Date, { nullable: true, description: 'When the person last proved who they are (sign-in or re-authentication).' })
  authTime!: Date | null;
}
