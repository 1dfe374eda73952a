import { Field, ID, ObjectType } from 'type-graphql';
import type { AccountView } from '../../auth/views.js';

/**
 * The public face of a user. A class of its own, separate from the Mongo model, so that no forgotten
 * decorator can ever expose the password hash.
 */
@ObjectType({ description: 'A user account.' })
export class User {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => [String], { description: 'Roles such as USER and ADMIN.' })
  roles!: string[];

  @Field(() => Boolean, { description: 'A disabled account cannot sign in or refresh.' })
  disabled!: boolean;

  @Field(() => Date)
  createdAt!: Date;

  static from(record: AccountView): User {
    return Object.assign(new User(), { id: record.id, email: record.email, roles: [...record.roles], disabled: record.disabled, createdAt: record.createdAt });
  }
}
