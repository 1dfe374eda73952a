import type { AppOptions } from '../../src/app.js';
import type { Config, Env } from '../../src/config/config.js';
import type { Logger } from '../../src/logger.js';
import { testConfig } from '../support/config.js';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';
import type { Mailbox } from '../support/mailbox.js';

export const PASSWORD = 'correct horse battery staple';
export const NEW_PASSWORD = 'a brand new passphrase';
export const MAIL_FROM = 'Portcullis <no-reply@portcullis.test>';

/** The configuration of a gateway that mails through `mailbox`, with PUBLIC_URL naming its own port. */
export function mailConfig(mailbox: Mailbox, port: number, overrides: Env = {}): Config {
  return testConfig({ SMTP_URL: mailbox.url, MAIL_FROM, PUBLIC_URL: `http://127.0.0.1:${port}`, MAIL_TIMEOUT_MS: '2000', ...overrides });
}

/** A gateway sending real mail to `mailbox`; links in its mail point at itself. */
export async function startMailGateway(
  mailbox: Mailbox,
  options: { env?: Env; app?: AppOptions; logger?: Logger; config?: Config } = {},
): Promise<TestGateway> {
  const port = await freePort();
  const config = options.config ?? mailConfig(mailbox, port, options.env);
  return startGateway({ config, port, ...(options.app && { app: options.app }), ...(options.logger && { logger: options.logger }) });
}
