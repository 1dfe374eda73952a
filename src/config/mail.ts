import { z } from 'zod';
import { flag, seconds, type Env, type ParsedVariables } from './fields.js';
import { SecretText } from './secret.js';

/**
 * How account mail leaves the gateway: `smtp` through SMTP_URL; `log` (development and test without SMTP_URL)
 * written to the log at info instead, links included; `off` (production without SMTP_URL) not at all, and the
 * reset and verification mutations answer MAIL_DISABLED.
 */
export type MailDelivery = 'smtp' | 'log' | 'off';

export interface MailConfig {
  readonly delivery: MailDelivery;
  /** With `smtp`: the connection URL, password included, so it never prints itself. */
  readonly smtpUrl: SecretText | undefined;
  /** With `smtp`: scheme://host:port without credentials, for the start-up log. */
  readonly smtpServer: string | undefined;
  readonly from: string;
  /** Where users reach the gateway (no trailing slash); links in mail point here. */
  readonly publicUrl: string;
  /** The longest one message may take to send (connection, greeting and every reply). */
  readonly timeoutMs: number;
  readonly passwordResetTtlSeconds: number;
  readonly emailVerificationTtlSeconds: number;
  /** Login of an account whose address is not verified answers EMAIL_NOT_VERIFIED (after the password was right). */
  readonly requireVerifiedEmail: boolean;
}

/** The mail variables, their defaults and bounds (part of config.ts's one schema, in this order). */
export const MAIL_VARIABLES = {
  SMTP_URL: z.string().min(1).optional(),
  MAIL_FROM: z.string().max(320).regex(/^[^\r\n]*[^\s@<]@[^\s@>]+>?$/, 'must be an address, optionally with a name: Name <user@host>').optional(),
  PUBLIC_URL: z.string().min(1).optional(),
  PASSWORD_RESET_TTL_SECONDS: seconds(60, 86_400).default(900),
  EMAIL_VERIFICATION_TTL_SECONDS: seconds(300, 30 * 86_400).default(86_400),
  REQUIRE_VERIFIED_EMAIL: flag.default(false),
  MAIL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
};

export const MAIL_HINTS: Readonly<Partial<Record<keyof typeof MAIL_VARIABLES, string>>> = {
  MAIL_FROM: 'an address such as "Portcullis <no-reply@example.com>"',
  PASSWORD_RESET_TTL_SECONDS: 'use whole seconds from 60 to 86400 (a day)',
  EMAIL_VERIFICATION_TTL_SECONDS: 'use whole seconds from 300 to 2592000 (30 days)',
  REQUIRE_VERIFIED_EMAIL: 'use true or false',
  MAIL_TIMEOUT_MS: 'use milliseconds from 100 to 120000',
};

/** What mail reads besides its own variables: where the gateway listens and whether sign-up is open. */
export interface MailContext {
  readonly HOST?: string | undefined;
  readonly PORT?: number | undefined;
  readonly SIGNUP_ENABLED?: boolean | undefined;
}

/**
 * SMTP_URL decides the delivery. Its problems never quote it: it holds a password. PUBLIC_URL is required with
 * SMTP (links must point where users are); the development log sink falls back to the listening address.
 */
export function checkMail(
  vars: ParsedVariables<typeof MAIL_VARIABLES> & MailContext,
  given: Env,
  production: boolean,
  problems: string[],
): MailConfig | undefined {
  const before = problems.length;
  let smtpUrl: SecretText | undefined;
  let smtpServer: string | undefined;
  if (vars.SMTP_URL !== undefined) {
    try {
      const url = new URL(vars.SMTP_URL);
      if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('scheme');
      if (url.hostname === '') throw new Error('host');
      smtpUrl = new SecretText(vars.SMTP_URL);
      smtpServer = `${url.protocol}//${url.host}`;
    } catch {
      problems.push('SMTP_URL: not a valid SMTP URL (expected smtps://user:password@mail.example.com:465 or smtp://host:587)');
    }
  } else if (given['SMTP_URL'] === undefined && production) {
    for (const [name, on] of [['SIGNUP_ENABLED', vars.SIGNUP_ENABLED], ['REQUIRE_VERIFIED_EMAIL', vars.REQUIRE_VERIFIED_EMAIL]] as const) {
      if (on) problems.push(`SMTP_URL: required in production when ${name}=true (new accounts are sent a verification link; set SMTP_URL to your mail server)`);
    }
  }
  const delivery: MailDelivery = given['SMTP_URL'] !== undefined ? 'smtp' : production ? 'off' : 'log';

  let publicUrl: string | undefined;
  if (vars.PUBLIC_URL !== undefined) {
    try {
      const url = new URL(vars.PUBLIC_URL);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
      if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw new Error('extras');
      if (production && url.protocol !== 'https:') {
        problems.push('PUBLIC_URL: must be https in production (links in mail carry one-time tokens)');
      }
      publicUrl = url.href.replace(/\/+$/, '');
    } catch {
      problems.push('PUBLIC_URL: not a valid URL (expected https://auth.example.com, optionally with a path, no query or fragment)');
    }
  } else if (delivery === 'smtp') {
    problems.push('PUBLIC_URL: required when SMTP_URL is set (links in mail point at it; e.g. https://auth.example.com)');
  }
  if (delivery === 'smtp' && vars.MAIL_FROM === undefined && given['MAIL_FROM'] === undefined) {
    problems.push('MAIL_FROM: required when SMTP_URL is set (the sender of account mail, e.g. "Portcullis <no-reply@example.com>")');
  }
  if (problems.length > before) return undefined;
  const host = vars.HOST ?? '127.0.0.1';
  return {
    delivery,
    smtpUrl,
    smtpServer,
    from: vars.MAIL_FROM ?? 'Portcullis <no-reply@localhost>',
    publicUrl: publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${vars.PORT ?? 4000}`,
    timeoutMs: vars.MAIL_TIMEOUT_MS ?? 10_000,
    passwordResetTtlSeconds: vars.PASSWORD_RESET_TTL_SECONDS ?? 900,
    emailVerificationTtlSeconds: vars.EMAIL_VERIFICATION_TTL_SECONDS ?? 86_400,
    requireVerifiedEmail: vars.REQUIRE_VERIFIED_EMAIL ?? false,
  };
}
