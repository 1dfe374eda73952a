import { ErrorCode, GatewayError } from '../errors.js';

/** RFC 5321 caps a forward path at 256 octets including the angle brackets. */
export const MAX_EMAIL_LENGTH = 254;
/**
 * Long enough for any passphrase or password manager, short enough that an absurd value is refused before it
 * costs a hash (the KDF cost barely depends on length, but the request body and memory do).
 */
export const MAX_PASSWORD_LENGTH = 1024;
/** For new passwords only; sign-in accepts whatever was allowed when the password was set. */
export const MIN_PASSWORD_LENGTH = 12;

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/;

/**
 * One spelling per mailbox: Unicode NFKC, trimmed, lower case. Both the unique index and sign-in use it, so
 * "A@B.c " and "a@b.c" are one account.
 */
export function normaliseEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase();
}

/** Checks shape and size before any lookup or hashing; throws BAD_USER_INPUT naming the field. */
export function checkEmail(email: string): string {
  const normalised = normaliseEmail(email);
  if (normalised.length === 0 || normalised.length > MAX_EMAIL_LENGTH || !EMAIL_SHAPE.test(normalised)) {
    throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'email', detail: `email must be an address of at most ${MAX_EMAIL_LENGTH} characters.` });
  }
  return normalised;
}

export function checkPasswordForSignIn(password: string): void {
  if (password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
    throw new GatewayError(ErrorCode.BAD_USER_INPUT, { field: 'password', detail: `password must be 1 to ${MAX_PASSWORD_LENGTH} characters.` });
  }
}

export function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new GatewayError(ErrorCode.BAD_USER_INPUT, {
      field: 'password',
      detail: `password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters.`,
    });
  }
}
