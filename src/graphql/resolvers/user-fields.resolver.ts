import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import type { GatewayContext } from '../context.js';
import { User } from '../types/user.type.js';

/**
 * Fields of User that need a read of their own. Resolved only when asked for, so `me { id email }` costs what
 * it did before. Verification lives in its own collection (see stores/email-verifications.store.ts).
 */
@Resolver(() => User)
export class UserFieldsResolver {
  @FieldResolver(() => Boolean, { description: 'Whether the address was confirmed by opening a mailed link (or vouched for by the operator who created the account).' })
  async emailVerified(@Root() user: User, @Ctx() context: GatewayContext): Promise<boolean> {
    return context.auth.isEmailVerified({ id: user.id, email: user.email });
  }
}
