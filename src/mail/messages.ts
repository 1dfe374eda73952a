import type { MailMessage } from './mailer.js';

/**
 * What a message says about where the request came from: the coarse address, as in the session list. Not the
 * user agent: it is whatever the requester typed, and would let a stranger put words into a mail to a victim.
 */
export interface RequestOrigin {
  readonly clientAddress: string | null;
  readonly at: Date;
}

export interface AccountMailInput {
  readonly to: string;
  readonly link: string;
  readonly origin: RequestOrigin;
  readonly ttlSeconds: number;
  /** Where users reach the gateway, to name the service. */
  readonly site: string;
}

export function passwordResetMessage(input: AccountMailInput): MailMessage {
  const lines = [
    `Somebody asked to reset the password of the account ${input.to} at ${input.site}.`,
    '',
    `Asked ${describeOrigin(input.origin)}.`,
    '',
    `To choose a new password, open this link within ${describeDuration(input.ttlSeconds)}. It works once, and every session of the account is ended when the new password is set:`,
    '',
    input.link,
    '',
    'If this was not you, ignore this message: your password stays as it is, and the link is useless to anybody without access to your mailbox. If it keeps happening, tell the administrator of the service.',
  ];
  return compose(input.to, 'Reset your password', lines, input.link);
}

export function emailVerificationMessage(input: AccountMailInput): MailMessage {
  const lines = [
    `Somebody asked to confirm that ${input.to} is the address of an account at ${input.site}.`,
    '',
    `Asked ${describeOrigin(input.origin)}.`,
    '',
    `To confirm it, open this link within ${describeDuration(input.ttlSeconds)}. It works once:`,
    '',
    input.link,
    '',
    'If you did not create an account there, ignore this message: the address stays unconfirmed, and nothing else happens.',
  ];
  return compose(input.to, 'Confirm your email address', lines, input.link);
}

/** The HTML body is the text body, escaped, with the link made clickable: no remote images, no tracking. */
function compose(to: string, subject: string, lines: readonly string[], link: string): MailMessage {
  const paragraphs: string[] = [];
  let current: string[] = [];
  for (const line of [...lines, '']) {
    if (line !== '') {
      current.push(line === link ? `<a href="${escapeHtml(link)}">${escapeHtml(link)}</a>` : escapeHtml(line));
    } else if (current.length > 0) {
      paragraphs.push(`<p>${current.join('<br>')}</p>`);
      current = [];
    }
  }
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>${paragraphs.join('\n')}</body></html>`;
  return { to, subject, text: `${lines.join('\n')}\n`, html };
}

function describeOrigin(origin: RequestOrigin): string {
  const when = `on ${origin.at.toISOString().replace('T', ' at ').replace(/\.\d+Z$/, ' UTC')}`;
  const where = origin.clientAddress ? `from the network ${origin.clientAddress}` : 'from an unknown address';
  return `${when} ${where}`;
}

function describeDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return plural(seconds / 86_400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * The five characters that matter in HTML text and attribute values. Hand-written because it is one line, and
 * the message's only markup is ours.
 */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
