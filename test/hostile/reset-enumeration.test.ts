/**
 * requestPasswordReset must not tell who has an account: not by its answer, not by its timing, not by its
 * throttling. The SMTP server here answers each message only after a delay, so an answer that waited for the
 * lookup or the send would be visibly slower for a known email.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIL_LIMITS } from '../../src/auth/mail-throttle.js';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { PASSWORD, startMailGateway } from '../accounts/support.js';
import type { TestGateway } from '../support/gateway.js';
import { startMailbox, type Mailbox } from '../support/mailbox.js';
import { firstCode, LOGIN, postGraphQL, type RawResponse } from './support.js';

const REQUEST_RESET = 'mutation($email: String!) { requestPasswordReset(email: $email) }';
const SMTP_DELAY_MS = 1000;
const ROUNDS = 8;
const PAIR_POINTS = MAIL_LIMITS.pair[0]?.points ?? 5;

/** Everything a client can observe of an answer, minus what differs between any two requests. */
function observable(response: RawResponse): unknown {
  const { date: _date, etag: _etag, 'content-length': _length, ...headers } = response.headers;
  return { status: response.status, body: response.json, setCookies: response.setCookies, headers };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

describe('requestPasswordReset and account enumeration', () => {
  let mailbox: Mailbox;
  let gateway: TestGateway;

  beforeAll(async () => {
    mailbox = await startMailbox({ replyDelayMs: SMTP_DELAY_MS });
    // A slow server and three pooled connections queue the 16 mails for several seconds; the send timeout counts
    // the queue too, so it is set well above that here (the timing under test is the answer's, not the send's).
    gateway = await startMailGateway(mailbox, { env: { MAIL_TIMEOUT_MS: '30000' } });
    for (let round = 0; round < ROUNDS; round++) await gateway.createUser({ email: `known-${round}@example.com`, password: PASSWORD });
    await gateway.createUser({ email: 'throttled@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
    await mailbox?.stop();
  });

  const ask = (email: string): Promise<RawResponse> => postGraphQL(gateway.url, { query: REQUEST_RESET, variables: { email } }, {}, AUTH_PATH);

  it('answers a known and an unknown email identically, within one timing band, and mails only the known one', async () => {
    // Warm-up, so the first measured request pays no first-use costs.
    await ask('warm-up@example.com');
    const known: number[] = [];
    const unknown: number[] = [];
    const answers: RawResponse[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating order, so neither kind always runs while the other's background work is going on.
      const order = round % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const);
      for (const kind of order) {
        const started = performance.now();
        const response = await ask(kind === 'known' ? `known-${round}@example.com` : `nobody-${round}@example.com`);
        (kind === 'known' ? known : unknown).push(performance.now() - started);
        answers.push(response);
      }
    }
    const first = answers[0];
    if (!first) throw new Error('no answers');
    expect(first.json).toEqual({ data: { requestPasswordReset: true } });
    for (const answer of answers) expect(observable(answer)).toEqual(observable(first));

    // An answer that waited for the send would take SMTP_DELAY_MS longer for known emails. The band is wide
    // for a noisy machine and still well under that.
    const knownMedian = median(known);
    const unknownMedian = median(unknown);
    expect(Math.abs(knownMedian - unknownMedian)).toBeLessThan(SMTP_DELAY_MS / 2);
    expect(knownMedian).toBeLessThan(SMTP_DELAY_MS);

    await gateway.app.accounts.drain();
    const recipients = mailbox.messages.map((message) => message.to);
    for (let round = 0; round < ROUNDS; round++) {
      expect(recipients.some((to) => to.includes(`known-${round}@example.com`))).toBe(true);
      expect(recipients.some((to) => to.includes(`nobody-${round}@example.com`))).toBe(false);
    }
  }, 60_000);

  it('throttles per account and address like login, for known and unknown emails alike, and sends nothing once refused', async () => {
    const sequence = async (email: string): Promise<unknown[]> => {
      const codes: unknown[] = [];
      for (let attempt = 0; attempt <= PAIR_POINTS; attempt++) {
        const response = await ask(email);
        codes.push(firstCode(response) ?? response.json?.data);
        if (attempt === PAIR_POINTS) {
          expect(response.json?.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeGreaterThan(0);
        }
      }
      return codes;
    };
    const known = await sequence('throttled@example.com');
    const unknown = await sequence('nobody-throttled@example.com');
    expect(unknown).toEqual(known);
    expect(known).toEqual([...Array<unknown>(PAIR_POINTS).fill({ requestPasswordReset: true }), ErrorCode.RATE_LIMITED]);
    await gateway.app.accounts.drain();
    expect(mailbox.messages.filter((message) => message.to.includes('throttled@example.com'))).toHaveLength(PAIR_POINTS);
    // Separate counters: asking for resets never locks anybody out of signing in.
    const login = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'throttled@example.com', password: PASSWORD } });
    expect(firstCode(login)).toBeUndefined();
  }, 60_000);
});
