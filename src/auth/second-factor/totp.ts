import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/** RFC 6238 defaults every authenticator app understands: SHA-1, 6 digits, 30 seconds. */
export const TOTP_PERIOD_SECONDS = 30;
const DIGITS = 6;
/** One step either side: a phone clock off by up to 30 s still works. */
const WINDOW = 1;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totpOf(secret: string, label: string, issuer: string): TOTP {
  return new TOTP({ issuer, label, secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: DIGITS, period: TOTP_PERIOD_SECONDS });
}

export function otpauthUri(secret: string, label: string, issuer: string): string {
  return totpOf(secret, label, issuer).toString();
}

/** An SVG QR code of the otpauth URI, drawn by the `qrcode` library. */
export function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** The 30-second step the code belongs to (within the window around `atMs`), or null for a wrong code. */
export function totpStep(secret: string, code: string, atMs: number): number | null {
  const totp = totpOf(secret, 'x', 'x');
  const delta = totp.validate({ token: code, timestamp: atMs, window: WINDOW });
  return delta === null ? null : totp.counter({ timestamp: atMs }) + delta;
}
