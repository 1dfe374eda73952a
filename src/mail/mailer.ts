import nodemailer, { type Transporter } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { MailConfig, MailDelivery } from '../config/config.js';
import type { Logger } from '../logger.js';

/**
 * The outgoing-mail adapter. It sits beside the stores (an outbound port of the same rank, used by auth only)
 * rather than inside auth: auth decides what to send and when, this decides how it leaves the process.
 */
export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface Mailer {
  readonly delivery: MailDelivery;
  /**
   * Sends one message. Rejects with MailError when the server refuses it, cannot be reached, or the whole
   * exchange takes longer than MAIL_TIMEOUT_MS; the error says why without the message or its links.
   */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** A failed send, described without anything the message carried. */
export class MailError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(`mail not sent: ${reason}`);
    this.name = 'MailError';
    this.reason = reason;
  }
}

export function createMailer(config: MailConfig, logger: Logger): Mailer {
  if (config.delivery === 'smtp' && config.smtpUrl) return smtpMailer(config, config.smtpUrl.reveal());
  if (config.delivery === 'log') return logMailer(logger);
  return {
    delivery: 'off',
    send: async (): Promise<void> => {
      throw new MailError('no mail is configured');
    },
    close: (): void => {},
  };
}

function smtpMailer(config: MailConfig, url: string): Mailer {
  const timeout = config.timeoutMs;
  // Pooled: a burst of requests reuses a few connections instead of opening one each. Every phase has the
  // same bound, and the AbortSignal below bounds the whole exchange. nodemailer's own logger stays off: at
  // debug it would print the conversation, links included.
  const transport: Transporter = nodemailer.createTransport(
    { url, pool: true, maxConnections: 3, connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout, dnsTimeout: timeout, logger: false, debug: false },
    { from: config.from },
  );
  return {
    delivery: 'smtp',
    async send(message: MailMessage): Promise<void> {
      const options = { to: message.to, subject: message.subject, text: message.text, html: message.html, signal: AbortSignal.timeout(timeout) };
      try {
        // `signal` is supported by nodemailer (Mail#sendMail and the SMTP transport) but missing from its types.
        await transport.sendMail(options as Mail.Options);
      } catch (error) {
        throw new MailError(describe(error));
      }
    },
    close(): void {
      transport.close();
    },
  };
}

/**
 * Development without SMTP_URL: the message is written to the log at info, clearly marked, so the whole flow
 * can be followed from the terminal. The one place a link with its token reaches a log; never in production.
 */
function logMailer(logger: Logger): Mailer {
  return {
    delivery: 'log',
    async send(message: MailMessage): Promise<void> {
      logger.info(
        { devMail: { to: message.to, subject: message.subject, text: message.text } },
        '[DEVELOPMENT MAIL, NOT SENT] SMTP_URL is unset, so this message is written here instead of being mailed. Its link works once.',
      );
    },
    close(): void {},
  };
}

/** Code and SMTP status only: server replies can quote the recipient, and nothing else is needed to act. */
function describe(error: unknown): string {
  const { code, responseCode, name } = error as { code?: unknown; responseCode?: unknown; name?: unknown };
  if (name === 'AbortError' || name === 'TimeoutError') return 'timed out (MAIL_TIMEOUT_MS)';
  const parts = [typeof code === 'string' ? code : 'error', typeof responseCode === 'number' ? `SMTP ${responseCode}` : ''];
  return parts.filter((part) => part !== '').join(', ');
}
