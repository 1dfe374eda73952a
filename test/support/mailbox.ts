import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { createLogger, type Logger } from '../../src/logger.js';

/** A message as the SMTP server received it, with the parts the tests read. */
export interface ReceivedMail {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly raw: string;
}

export interface Mailbox {
  readonly port: number;
  /** smtp://user:password@127.0.0.1:port: what SMTP_URL is set to. */
  readonly url: string;
  readonly password: string;
  readonly messages: ReceivedMail[];
  /** The first message to `to` received after `after` messages in all, waiting up to `timeoutMs`. */
  next(to: string, options?: { timeoutMs?: number }): Promise<ReceivedMail>;
  /** Stops listening: connections are refused, as when the mail server is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

const USER = 'portcullis';

/**
 * A real SMTP server (the `smtp-server` package) on loopback, requiring the credentials in its URL. It keeps
 * every message it accepts, and answers each after `replyDelayMs`. No TLS: loopback only, and STARTTLS is not offered, so nodemailer sends in clear.
 */
export async function startMailbox(options: { replyDelayMs?: number } = {}): Promise<Mailbox> {
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
  const messages: ReceivedMail[] = [];
  const waiters: Array<() => void> = [];
  const create = (): SMTPServer =>
    new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === USER && auth.password === password) callback(null, { user: USER });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          messages.push(parseMail(Buffer.concat(chunks).toString('utf8')));
          for (const wake of waiters.splice(0)) wake();
          // A slow server makes any wait for the send visible in the answer's timing.
          setTimeout(() => callback(), options.replyDelayMs ?? 0);
        });
      },
    });
  let server = create();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;

  return {
    port,
    url: `smtp://${USER}:${password}@127.0.0.1:${port}`,
    password,
    messages,
    async next(to: string, options: { timeoutMs?: number } = {}): Promise<ReceivedMail> {
      const seen = messages.filter((message) => message.to.includes(to)).length;
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      for (;;) {
        const found = messages.filter((message) => message.to.includes(to))[seen];
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no new message to ${to} within ${options.timeoutMs ?? 10_000} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async stop(): Promise<void> {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async start(): Promise<void> {
      server = create();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
  };
}

/** The link in a message, and the token in its fragment. */
export function linkIn(mail: ReceivedMail): { link: string; token: string } {
  const link = /https?:\/\/\S+#token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
  if (!link) throw new Error(`no link in the message:\n${mail.text}`);
  return { link, token: link.slice(link.indexOf('#token=') + '#token='.length) };
}

/**
 * Just enough MIME for what nodemailer sends: headers (unfolded, RFC 2047 words left as they are), and the
 * text/plain and text/html parts of a multipart/alternative body, quoted-printable or base64. mailparser is not
 * installed, and these messages are ours, so a small reader is enough.
 */
export function parseMail(raw: string): ReceivedMail {
  const { headers, body } = splitEntity(raw);
  const parts: Array<{ headers: Map<string, string>; body: string }> = [];
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  if (boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      parts.push(splitEntity(chunk.replace(/^\r?\n/, '')));
    }
  } else {
    parts.push({ headers, body });
  }
  const partOf = (type: string): string => {
    const part = parts.find((candidate) => (candidate.headers.get('content-type') ?? 'text/plain').startsWith(type));
    return part ? decode(part.body, part.headers.get('content-transfer-encoding') ?? '7bit') : '';
  };
  return {
    from: headers.get('from') ?? '',
    to: headers.get('to') ?? '',
    subject: headers.get('subject') ?? '',
    text: partOf('text/plain'),
    html: partOf('text/html'),
    raw,
  };
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decode(body: string, encoding: string): string {
  const normalised = encoding.toLowerCase();
  if (normalised === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (normalised === 'quoted-printable') {
    const text = body.replace(/=\r?\n/g, '');
    const bytes: number[] = [];
    for (let index = 0; index < text.length; index++) {
      const hex = text.slice(index + 1, index + 3);
      if (text[index] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        index += 2;
      } else {
        bytes.push(...Buffer.from(text[index] ?? '', 'utf8'));
      }
    }
    return Buffer.from(bytes).toString('utf8');
  }
  return body;
}

/** A real logger (createLogger, redaction included) whose lines the test can read. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback): void {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      callback();
    },
  });
  return { logger: createLogger('info', { stream }), lines };
}
