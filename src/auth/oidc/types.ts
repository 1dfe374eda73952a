import type { ErrorCode } from '../../errors.js';
import type { IssuedSession } from '../session-manager.js';

/** A provider as the layers above see it: enough to draw a button. */
export interface SignInProviderView {
  readonly name: string;
  readonly label: string;
  /** The gateway's URL (PUBLIC_URL) that starts a sign-in through it; add `?returnTo=` to come back. */
  readonly startUrl: string;
}

/** One way into an account. */
export interface SignInMethodView {
  readonly kind: 'PASSWORD' | 'OIDC';
  /** The provider's name (OIDC); null for the password. */
  readonly provider: string | null;
  /** The email the provider asserted when it was linked (OIDC); null for the password. */
  readonly email: string | null;
  /** When the provider was linked; null for the password. */
  readonly linkedAt: Date | null;
}

/** The browser goes to the provider with this URL; the flow cookie carries `flowKey`. */
export interface StartedFlow {
  readonly authorizationUrl: string;
  /** A random value for the short-lived HttpOnly flow cookie; only its hash is stored. */
  readonly flowKey: string;
  readonly maxAgeSeconds: number;
}

/** Where a callback ends: the page to go back to, with a new session, nothing (a link), or an error code. */
export type CallbackOutcome =
  | { readonly kind: 'signed-in'; readonly returnTo: string; readonly session: IssuedSession }
  | { readonly kind: 'linked'; readonly returnTo: string }
  | { readonly kind: 'failed'; readonly returnTo: string; readonly code: ErrorCode };

/** A failure of the flow with its public code; never carries a token, code, state or secret. */
export class OidcFailure extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, why: string) {
    super(why);
    this.name = 'OidcFailure';
    this.code = code;
  }
}

/** How long a started sign-in may take at the provider. */
export const FLOW_TTL_SECONDS = 600;
/** `?link=1` needs a sign-in this recent. */
export const REAUTHENTICATION_WINDOW_SECONDS = 600;
