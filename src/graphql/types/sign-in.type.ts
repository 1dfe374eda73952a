import { Field, ObjectType, registerEnumType } from 'type-graphql';
import type { SignInMethodView, SignInProviderView } from '../../auth/oidc/types.js';

@ObjectType({ description: 'An OpenID Connect provider people may sign in through (docs/sign-in.md).' })
export class SignInProvider {
  @Field(() => String, { description: 'The name in OIDC_PROVIDERS.' })
  name!: string;

  @Field(() => String, { description: 'Button text (OIDC_<NAME>_LABEL).' })
  label!: string;

  @Field(() => String, {
    description: 'Send the browser here to sign in (add `?returnTo=<path or allowed origin URL>`; `&link=1` links it to the signed-in account instead).',
  })
  startUrl!: string;

  static from(view: SignInProviderView): SignInProvider {
    return Object.assign(new SignInProvider(), { name: view.name, label: view.label, startUrl: view.startUrl });
  }
}

export enum SignInMethodKind {
  PASSWORD = 'PASSWORD',
  OIDC = 'OIDC',
}
registerEnumType(SignInMethodKind, { name: 'SignInMethodKind', description: 'A password, or an identity at an OpenID Connect provider.' });

@ObjectType({ description: 'One way into an account.' })
export class SignInMethod {
  @Field(() => SignInMethodKind)
  kind!: SignInMethodKind;

  @Field(() => String, { nullable: true, description: 'The provider (OIDC); null for the password.' })
  provider!: string | null;

  @Field(() => String, { nullable: true, description: 'The email the provider asserted when it was linked (OIDC).' })
  email!: string | null;

  @Field(() => Date, { nullable: true, description: 'When the provider was linked (OIDC).' })
  linkedAt!: Date | null;

  static from(view: SignInMethodView): SignInMethod {
    return Object.assign(new SignInMethod(), {
      kind: view.kind === 'PASSWORD' ? SignInMethodKind.PASSWORD : SignInMethodKind.OIDC,
      provider: view.provider,
      email: view.email,
      linkedAt: view.linkedAt,
    });
  }
}
