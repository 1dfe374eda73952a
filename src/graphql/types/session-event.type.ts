import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum SessionEventKind {
  CREATED = 'CREATED',
  ENDED = 'ENDED',
}

registerEnumType(SessionEventKind, { name: 'SessionEventKind', description: 'What happened to one of my sessions.' });

/** What the live feed behind mySessionEvents hands the resolver (src/live/session-events.ts). */
export interface SessionEventView {
  readonly kind: SessionEventKind;
  readonly sessionId: string;
  readonly at: Date;
  readonly userAgent: string | null;
  readonly clientAddress: string | null;
}

@ObjectType({ description: 'One of my sessions was created (a sign-in) or ended (logout, revocation, expiry).' })
export class SessionEvent {
  @Field(() => SessionEventKind)
  kind!: SessionEventKind;

  @Field(() => ID)
  sessionId!: string;

  @Field(() => Date, { description: 'When it was created, or when the gateway saw it end.' })
  at!: Date;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => String, { nullable: true, description: 'The network it signed in from (/24 or /48), not the exact address.' })
  clientAddress!: string | null;

  static from(view: SessionEventView): SessionEvent {
    return Object.assign(new SessionEvent(), view);
  }
}
