import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server on loopback that accepts and drops every message. Production gateways with sign-up on
 * refuse to start without SMTP_URL (sign-up mails a verification link), and the bench signs its users up, so
 * its gateways mail here. No TLS: loopback only, STARTTLS not offered.
 */
export interface MailSink {
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

export async function startMailSink(): Promise<MailSink> {
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // It never keeps the bench alive by itself: the run ends when its figures are done.
  server.server.unref();
  const { port } = server.server.address() as AddressInfo;
  return {
    env: { SMTP_URL: `smtp://127.0.0.1:${port}`, MAIL_FROM: 'Portcullis bench <bench@localhost>', PUBLIC_URL: 'https://bench.invalid' },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
