import { Field, Int, ObjectType } from 'type-graphql';
import type { SecondFactorStatus as SecondFactorStatusView, TotpEnrollment as TotpEnrollmentView } from '../../auth/second-factor/second-factor.js';

@ObjectType({ description: 'A TOTP enrollment waiting for its first code (confirmTotpEnrollment). Shown once.' })
export class TotpEnrollment {
  @Field(() => String, { description: 'The shared secret, base32, for typing into an authenticator app.' })
  secret!: string;

  @Field(() => String, { description: 'otpauth://totp/… for authenticator apps.' })
  otpauthUri!: string;

  @Field(() => String, { description: 'The otpauth URI as an SVG QR code.' })
  qrCodeSvg!: string;

  static from(view: TotpEnrollmentView): TotpEnrollment {
    return Object.assign(new TotpEnrollment(), { secret: view.secret, otpauthUri: view.otpauthUri, qrCodeSvg: view.qrCodeSvg });
  }
}

@ObjectType({ description: 'My second factor.' })
export class SecondFactorStatus {
  @Field(() => Boolean)
  totpEnabled!: boolean;

  @Field(() => Int, { description: 'Recovery codes not used yet.' })
  recoveryCodesLeft!: number;

  static from(view: SecondFactorStatusView): SecondFactorStatus {
    return Object.assign(new SecondFactorStatus(), { totpEnabled: view.totpEnabled, recoveryCodesLeft: view.recoveryCodesLeft });
  }
}
