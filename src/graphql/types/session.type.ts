import { Field, ID, ObjectType } from 'type-graphql';
import type { SessionView } from '../../auth/views.js';

@ObjectType({ description: 'A signed-in session: one login and the refresh tokens rotated from it.' })
export class Session {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { description: 'The last login or refresh.' })
  lastUsedAt!: Date;

  @Field(() => Date, { description: 'The absolute end; refreshing never moves it.' })
  expiresAt!: Date;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => String, { nullable: true, description: 'The network it signed in from (/24 or /48), not the exact address.' })
  clientAddress!: string | null;

  @Field(() => [String], { description: 'How this session signed in (RFC 8176 amr: pwd, otp, mfa, hwk, swk, user, fed).' })
  amr!: string[];

  @Field(() => Date, { description: 'When this session signed in.' })
  authTime!: Date;

  @Field(() => Boolean, { description: 'True for the session of the access token making this request.' })
  current!: boolean;

  static from(record: SessionView, currentSessionId: string): Session {
    return Object.assign(new Session(), {
      id: record.id,
      createdAt: record.createdAt,
      lastUsedAt: record.lastUsedAt,
      expiresAt: record.expiresAt,
      userAgent: record.userAgent,
      clientAddress: record.clientAddress,
      amr: [...record.amr],
      authTime: record.authTime,
      current: record.id === currentSessionId,
    });
  }
}
