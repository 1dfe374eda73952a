/**
 * The one error catalogue. Clients switch on `extensions.code` (and, for a refused access token,
 * `extensions.reason`); both are part of the public contract and never change meaning once released.
 * Messages are public too, so they say what a client can act on and nothing an attacker could use:
 * "unknown email" and "wrong password" share one code and one message on purpose.
 *
 * This file imports nothing so that every layer may use it.
 */

export const ErrorCode = {
  /** No valid access token where one is needed, or a token that was refused. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Signed in, but without a role the field requires. */
  FORBIDDEN: 'FORBIDDEN',
  /** Login failed: the same code for an unknown email and a wrong password. */
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  /** The refresh token is unknown, malformed, expired, or its session has ended: sign in again. */
  REFRESH_TOKEN_INVALID: 'REFRESH_TOKEN_INVALID',
  /**
   * A refresh token that was already rotated was presented again after its successor was used (or, for a token
   * handed out twice, after the grace window): a theft signal.
   * The whole session has been revoked; sign in again.
   */
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  /**
   * The database is unreachable, or the gateway cannot currently check revocations; retry shortly. Answered with
   * HTTP 503 and Retry-After; /readyz answers 503 meanwhile.
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** An argument failed validation before any work was done. */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The request cannot be served as sent (e.g. a non-auth operation sent to /graphql/auth). */
  BAD_REQUEST: 'BAD_REQUEST',
  /** A browser request from an origin that is not allowed (HTTP 403): cross-site request forgery or a misconfigured ALLOWED_ORIGINS. */
  CSRF_REJECTED: 'CSRF_REJECTED',
  /** Too many attempts; `extensions.retryAfterSeconds` says when to try again. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The request body is over the size limit (HTTP 413). */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** No such HTTP route (HTTP 404). */
  NOT_FOUND: 'NOT_FOUND',
  /** `signUp` is switched off by configuration. */
  SIGNUP_DISABLED: 'SIGNUP_DISABLED',
  /** Anything unexpected. The details stay in the server log. */
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  /** Password reset and email verification need mail, and none is configured (production without SMTP_URL). */
  MAIL_DISABLED: 'MAIL_DISABLED',
  /** The password-reset token is unknown, spent, expired, or void (a newer one was sent, or the password changed): ask for a new link. */
  RESET_TOKEN_INVALID: 'RESET_TOKEN_INVALID',
  /** The email-verification token is unknown, spent, expired, or void (a newer one was sent): ask for a new link. */
  VERIFICATION_TOKEN_INVALID: 'VERIFICATION_TOKEN_INVALID',
  /** The password was right, but REQUIRE_VERIFIED_EMAIL is on and the address is not verified yet; a new link has been mailed. */
  EMAIL_NOT_VERIFIED: 'EMAIL_NOT_VERIFIED',
  /**
   * Gateway mode: the upstream that serves this field is unreachable, too slow, failing (5xx) or answered
   * something that is not GraphQL. Other fields of the operation still answer; retry shortly.
   */
  UPSTREAM_UNAVAILABLE: 'UPSTREAM_UNAVAILABLE',
  /**
   * Sign-in through a provider (docs/sign-in.md): these arrive as `#error=<CODE>` on the page the browser is sent
   * back to. The flow's state is missing, unknown, spent, expired, for another provider, or from another browser.
   */
  OIDC_STATE_INVALID: 'OIDC_STATE_INVALID',
  /** The provider answered an error (the person declined, …), or its code exchange or ID token failed a check. */
  OIDC_PROVIDER_ERROR: 'OIDC_PROVIDER_ERROR',
  /** The provider cannot be reached (discovery has not succeeded yet, or it is down); retry shortly. */
  OIDC_PROVIDER_UNAVAILABLE: 'OIDC_PROVIDER_UNAVAILABLE',
  /** The provider did not assert a verified email where one is needed (linking by email, REQUIRE_VERIFIED_EMAIL). */
  OIDC_EMAIL_UNVERIFIED: 'OIDC_EMAIL_UNVERIFIED',
  /**
   * An account with this email exists and the provider is not trusted to link by email, or the provider identity
   * is linked to another account: sign in as before and link from there.
   */
  OIDC_ACCOUNT_EXISTS: 'OIDC_ACCOUNT_EXISTS',
  /** The account is disabled (sign-in through a provider; password login answers INVALID_CREDENTIALS instead). */
  ACCOUNT_DISABLED: 'ACCOUNT_DISABLED',
  /** Removing this sign-in method would leave the account without any way in. */
  LAST_SIGN_IN_METHOD: 'LAST_SIGN_IN_METHOD',
  /**
   * The password was right and the account has a second factor: no session yet. `extensions.challenge` (opaque,
   * single use, 5 minutes) and `extensions.methods` (e.g. ["TOTP", "RECOVERY_CODE"]) go to `verifySecondFactor`.
   */
  MFA_REQUIRED: 'MFA_REQUIRED',
  /** The second-factor code is wrong, or was already used (a TOTP code once per 30 s step, a recovery code once ever). */
  MFA_CODE_INVALID: 'MFA_CODE_INVALID',
  /** The second-factor challenge is unknown, used, expired, or ended by too many wrong codes: sign in again. */
  MFA_CHALLENGE_INVALID: 'MFA_CHALLENGE_INVALID',
  /** The account holds a role of MFA_REQUIRED_ROLES and has no second factor: this session may only enroll one. */
  MFA_ENROLLMENT_REQUIRED: 'MFA_ENROLLMENT_REQUIRED',
  /** A sensitive operation needs a sign-in more recent than REAUTH_MAX_AGE_SECONDS: call `reauthenticate` first. */
  REAUTHENTICATION_REQUIRED: 'REAUTHENTICATION_REQUIRED',
  /** A passkey could not be verified (any reason: unknown, replayed, wrong origin, removed, cloned). */
  PASSKEY_INVALID: 'PASSKEY_INVALID',
  /** The passkey ceremony's challenge expired (5 minutes) or was never issued to this browser: start again. */
  PASSKEY_CHALLENGE_EXPIRED: 'PASSKEY_CHALLENGE_EXPIRED',
  /** A live connection already runs SUBSCRIPTIONS_PER_CONNECTION operations: complete one first, or open another connection. */
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Why an access token was refused, in `extensions.reason` beside `UNAUTHENTICATED`. Only two values on purpose:
 * "expired" tells a client to refresh; everything else (forged, tampered, wrong type, audience, malformed …)
 * is one indistinguishable "invalid", so a probe learns nothing about which check failed.
 */
export const TokenRejection = {
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  TOKEN_INVALID: 'TOKEN_INVALID',
} as const;
export type TokenRejection = (typeof TokenRejection)[keyof typeof TokenRejection];

/** Why a signed-in caller was refused, in `extensions.reason` beside `FORBIDDEN`. */
export const ForbiddenReason = {
  /** The field is `@authorized(mfa: true)` and this session signed in with one factor only. */
  MFA_REQUIRED: 'MFA_REQUIRED',
} as const;
export type ForbiddenReason = (typeof ForbiddenReason)[keyof typeof ForbiddenReason];

const publicMessages: Record<ErrorCode, string> = {
  UNAUTHENTICATED: 'You must be signed in to do this.',
  FORBIDDEN: 'You are not allowed to do this.',
  INVALID_CREDENTIALS: 'The email or password is incorrect.',
  REFRESH_TOKEN_INVALID: 'The refresh token is not valid. Sign in again.',
  REFRESH_TOKEN_REUSED: 'This refresh token was already used. The session has been ended for safety; sign in again.',
  SERVICE_UNAVAILABLE: 'The service is temporarily unavailable. Try again shortly.',
  BAD_USER_INPUT: 'The input is not valid.',
  BAD_REQUEST: 'The request cannot be served as sent.',
  CSRF_REJECTED: 'Cross-origin request refused.',
  RATE_LIMITED: 'Too many attempts. Try again later.',
  PAYLOAD_TOO_LARGE: 'The request body is too large.',
  NOT_FOUND: 'Not found.',
  SIGNUP_DISABLED: 'Sign-up is not available.',
  INTERNAL_SERVER_ERROR: 'Internal server error.',
  MAIL_DISABLED: 'Password reset and email verification are not available.',
  RESET_TOKEN_INVALID: 'This password-reset link is not valid any more. Ask for a new one.',
  VERIFICATION_TOKEN_INVALID: 'This verification link is not valid any more. Ask for a new one.',
  EMAIL_NOT_VERIFIED: 'Verify your email address first: open the link we sent you.',
  UPSTREAM_UNAVAILABLE: 'The service behind this field is unavailable. Try again shortly.',
  OIDC_STATE_INVALID: 'This sign-in link is not valid any more. Start the sign-in again.',
  OIDC_PROVIDER_ERROR: 'The sign-in provider did not complete the sign-in.',
  OIDC_PROVIDER_UNAVAILABLE: 'The sign-in provider is unavailable. Try again shortly.',
  OIDC_EMAIL_UNVERIFIED: 'The sign-in provider did not confirm your email address.',
  OIDC_ACCOUNT_EXISTS: 'An account already uses this email or identity. Sign in as before, then link this provider from your account.',
  ACCOUNT_DISABLED: 'This account is disabled.',
  LAST_SIGN_IN_METHOD: 'This is your last way to sign in; add another before removing it.',
  MFA_REQUIRED: 'Enter a code from your authenticator app or a recovery code.',
  MFA_CODE_INVALID: 'The code is not valid.',
  MFA_CHALLENGE_INVALID: 'This sign-in attempt is not valid any more. Sign in again.',
  MFA_ENROLLMENT_REQUIRED: 'Set up a second factor before you continue.',
  REAUTHENTICATION_REQUIRED: 'Confirm it is you: sign in again to do this.',
  PASSKEY_INVALID: 'The passkey could not be verified.',
  PASSKEY_CHALLENGE_EXPIRED: 'The passkey request has expired. Try again.',
  TOO_MANY_SUBSCRIPTIONS: 'Too many operations on this connection. Complete one first.',
};

const tokenMessages: Record<TokenRejection, string> = {
  TOKEN_EXPIRED: 'The access token has expired. Refresh it and try again.',
  TOKEN_INVALID: 'The access token is not valid.',
};

export interface GatewayErrorOptions {
  /** A public, non-sensitive detail, e.g. which argument was invalid. Never a token, secret or password. */
  readonly detail?: string;
  readonly reason?: TokenRejection | ForbiddenReason;
  readonly field?: string;
  /** With RATE_LIMITED. */
  readonly retryAfterSeconds?: number;
  /** With MFA_REQUIRED: the opaque challenge for verifySecondFactor, and the methods that may answer it. */
  readonly challenge?: string;
  readonly methods?: readonly string[];
}

/**
 * An expected failure with a stable code. Anything thrown that is not a GatewayError is a bug and is shown to
 * clients only as INTERNAL_SERVER_ERROR.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly reason: TokenRejection | ForbiddenReason | undefined;
  readonly field: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly challenge: string | undefined;
  readonly methods: readonly string[] | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(options.detail ?? (options.reason && options.reason in tokenMessages ? tokenMessages[options.reason as TokenRejection] : publicMessages[code]));
    this.name = 'GatewayError';
    this.code = code;
    this.reason = options.reason;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challenge = options.challenge;
    this.methods = options.methods;
  }
}

export function publicMessage(code: ErrorCode): string {
  return publicMessages[code];
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

/**
 * Codes of `IdentityError`, thrown by the published verifier `portcullis/upstream` (`verifyIdentity`) in an
 * upstream service, never by the gateway itself. Stable like the codes above.
 */
export const IdentityErrorCode = {
  /** Forged, tampered, for another audience or issuer, of another type (an access token), too long-lived, malformed. */
  IDENTITY_INVALID: 'IDENTITY_INVALID',
  /** A genuine identity token past its `exp`: the gateway re-signs on the next request, so a retry through it works. */
  IDENTITY_EXPIRED: 'IDENTITY_EXPIRED',
  /** The gateway's JWKS could not be fetched or read: not the caller's fault; answer 503 and retry. */
  IDENTITY_KEYS_UNAVAILABLE: 'IDENTITY_KEYS_UNAVAILABLE',
} as const;
export type IdentityErrorCode = (typeof IdentityErrorCode)[keyof typeof IdentityErrorCode];
