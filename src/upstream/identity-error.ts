import { IdentityErrorCode } from '../errors.js';

export { IdentityErrorCode };

/**
 * Why `verifyIdentity` refused a request, as a stable `code`; callers switch on it, never on the message.
 * Every forged, tampered, misdirected or malformed token is one indistinguishable IDENTITY_INVALID (as the
 * gateway's own TOKEN_INVALID), so an answer built from it teaches a probe nothing about which check failed.
 */
export class IdentityError extends Error {
  readonly code: IdentityErrorCode;

  constructor(code: IdentityErrorCode, options: { cause?: unknown } = {}) {
    super(MESSAGES[code], options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'IdentityError';
    this.code = code;
  }
}

const MESSAGES: Record<IdentityErrorCode, string> = {
  IDENTITY_INVALID: 'The identity token is not valid.',
  IDENTITY_EXPIRED: 'The identity token has expired.',
  IDENTITY_KEYS_UNAVAILABLE: "The gateway's signing keys could not be fetched; try again shortly.",
};

export function isIdentityError(error: unknown): error is IdentityError {
  return error instanceof IdentityError;
}
