/**
 * What happens to account mail when the mail server is down or hangs, and where mail goes in development
 * without one. The gateway's real logger is captured, so the tests read exactly what would be logged.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { RequestPasswordResetDocument, ResetPasswordDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';
import { capturedLogger, linkIn, startMailbox, type Mailbox } from '../support/mailbox.js';
import { MAIL_FROM, NEW_PASSWORD, PASSWORD, startMailGateway } from './support.js';

const MAIL_TIMEOUT_MS = 1500;
/**
 * Answers that do not wait for mail come back in milliseconds; this ceiling is generous for a loaded machine and
 * still below MAIL_TIMEOUT_MS, so an answer that waited for the hung server would fail it.
 */
const FAST_ANSWER_MS = 1000;

function parsed(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('when the mail server is down', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    mailbox = await startMailbox();
    gateway = await startMailGateway(mailbox, { env: { MAIL_TIMEOUT_MS: String(MAIL_TIMEOUT_MS) }, logger });
    await gateway.createUser({ email: 'mia@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
    await mailbox?.stop().catch(() => {});
  });

  it('answers as usual, logs the failure without any token or the SMTP password, and a retry once it is back mails a working link', async () => {
    await mailbox.stop();
    const started = performance.now();
    const answer = await gateway.request(RequestPasswordResetDocument, { email: 'mia@example.com' }, { path: AUTH_PATH });
    expect(answer.body).toEqual({ data: { requestPasswordReset: true } });
    expect(performance.now() - started).toBeLessThan(FAST_ANSWER_MS);
    // The send gives up within MAIL_TIMEOUT_MS (a refused connection fails at once).
    await gateway.app.accounts.drain();
    expect(performance.now() - started).toBeLessThan(MAIL_TIMEOUT_MS + 1000);
    const failure = parsed(lines).find((line) => line['msg'] === 'account mail could not be sent; asking again sends a new link');
    expect(failure).toMatchObject({ level: 50, purpose: 'password-reset', reason: expect.stringMatching(/ESOCKET|ECONNECTION/) });

    await mailbox.start();
    const arriving = mailbox.next('mia@example.com');
    await gateway.request(RequestPasswordResetDocument, { email: 'mia@example.com' }, { path: AUTH_PATH });
    const { token } = linkIn(await arriving);
    expect((await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH })).body).toEqual({
      data: { resetPassword: true },
    });
    await gateway.app.accounts.drain();

    const log = lines.join('\n');
    expect(log).toContain('account mail is sent through SMTP');
    expect(log).toContain(`smtp://127.0.0.1:${mailbox.port}`);
    expect(log).not.toContain(mailbox.password);
    expect(log).not.toContain(token);
    expect(log).not.toContain('#token=');
    expect(log).not.toContain(NEW_PASSWORD);
  });
});

describe('when the mail server accepts connections but never answers', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let gateway: TestGateway;
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const smtpPort = (silent.address() as AddressInfo).port;
    const port = await freePort();
    const config = testConfig({
      SMTP_URL: `smtp://user:hung-server-secret@127.0.0.1:${smtpPort}`,
      MAIL_FROM,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      MAIL_TIMEOUT_MS: String(MAIL_TIMEOUT_MS),
    });
    gateway = await startGateway({ config, port, logger });
    await gateway.createUser({ email: 'nina@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent?.close(() => resolve()));
  });

  it('answers at once, and gives up on the send after about MAIL_TIMEOUT_MS with the failure logged', async () => {
    const started = performance.now();
    const answer = await gateway.request(RequestPasswordResetDocument, { email: 'nina@example.com' }, { path: AUTH_PATH });
    expect(answer.body).toEqual({ data: { requestPasswordReset: true } });
    expect(performance.now() - started).toBeLessThan(FAST_ANSWER_MS);
    await gateway.app.accounts.drain();
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(MAIL_TIMEOUT_MS - 50);
    expect(took).toBeLessThan(MAIL_TIMEOUT_MS + 1500);
    expect(sockets.length).toBeGreaterThan(0);
    const failure = parsed(lines).find((line) => line['msg'] === 'account mail could not be sent; asking again sends a new link');
    expect(failure).toMatchObject({ level: 50, purpose: 'password-reset', reason: expect.stringMatching(/timed out|ETIMEDOUT/) });
    expect(lines.join('\n')).not.toContain('hung-server-secret');
  });
});

describe('without SMTP_URL in development', () => {
  let gateway: TestGateway;
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    const port = await freePort();
    gateway = await startGateway({ config: testConfig({ NODE_ENV: 'development', PORT: String(port), SMTP_URL: undefined }), port, logger });
    await gateway.createUser({ email: 'olga@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('writes the message, link included, to the log at info, clearly marked, and the link works', async () => {
    expect(gateway.config.mail.delivery).toBe('log');
    await gateway.request(RequestPasswordResetDocument, { email: 'olga@example.com' }, { path: AUTH_PATH });
    await gateway.app.accounts.drain();
    const entry = parsed(lines).find((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('[DEVELOPMENT MAIL, NOT SENT]'));
    expect(entry).toMatchObject({ level: 30, devMail: { to: 'olga@example.com', subject: 'Reset your password' } });
    const text = (entry?.['devMail'] as { text: string }).text;
    // The default PUBLIC_URL in development is the listening address.
    expect(text).toContain(`${gateway.url}/account/reset-password#token=`);
    const { token } = linkIn({ from: '', to: '', subject: '', html: '', raw: '', text });
    expect((await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH })).body).toEqual({
      data: { resetPassword: true },
    });
    // That one line is the only place the token appears.
    expect(lines.filter((line) => line.includes(token))).toHaveLength(1);
  });
});
