import { Field, ID, ObjectType } from 'type-graphql';
import type { PasskeyView } from '../../auth/passkeys/passkeys.js';

@ObjectType({ description: 'One of my passkeys.' })
export class Passkey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'The last sign-in with it.' })
  lastUsedAt!: Date | null;

  static from(view: PasskeyView): Passkey {
    return Object.assign(new Passkey(), { id: view.id, name: view.name, createdAt: view.createdAt, lastUsedAt: view.lastUsedAt });
  }
}
