import { AUTH_PATH } from '../../src/http/cookies.js';
import { dataOf, graphql, loginForTokens, type Credentials } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import type { Problems } from '../problems.js';
import { percentile, sleep } from '../stats.js';

/** Figure 5: how long a logout on instance A takes to be enforced by instance B. */
export interface ReachResult {
  /** Milliseconds from A's logout answer to B's first refusal, one per trial that completed. */
  readonly trialsMs: number[];
  /** Requests B answered per trial (the last one is the refusal). */
  readonly polls: number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly failures: number;
}

const POLL_EVERY_MS = 10;
/** Far beyond the 1 s goal: a trial that runs this long has failed, and saying so beats waiting forever. */
const GIVE_UP_MS = 10_000;
const CURRENT_SESSION = '{ currentSession { id } }';

export async function measureReach(input: { a: GatewayProcess; b: GatewayProcess; user: Credentials; trials: number; problems: Problems }): Promise<ReachResult> {
  const { a, b, problems } = input;
  const trialsMs: number[] = [];
  const polls: number[] = [];
  let failures = 0;
  for (let trial = 0; trial < input.trials; trial++) {
    // B polls the database every 250 ms; a random pause puts each logout at a random point of that cycle
    // instead of always the same one.
    await sleep(Math.random() * 250);
    const { accessToken } = await loginForTokens(a.origin, input.user);
    const bearer = { authorization: `Bearer ${accessToken}` };
    // B accepts the token first, so it sits in B's verified-token cache: the case a cache could get wrong.
    dataOf(await graphql(b.origin, CURRENT_SESSION, { headers: bearer }), 'reach: B before logout');
    dataOf(await graphql(a.origin, 'mutation { logout }', { headers: bearer, path: AUTH_PATH }), 'reach: logout on A');
    const loggedOut = performance.now();

    let count = 0;
    for (;;) {
      const started = performance.now();
      const reply = await graphql(b.origin, CURRENT_SESSION, { headers: bearer });
      count++;
      const code = reply.body.errors?.[0]?.extensions?.['code'];
      if (code === 'UNAUTHENTICATED') {
        trialsMs.push(performance.now() - loggedOut);
        polls.push(count);
        break;
      }
      if (code !== undefined || reply.status !== 200) {
        failures++;
        problems.report(`reach trial ${trial + 1}`, `B answered HTTP ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
        break;
      }
      if (performance.now() - loggedOut > GIVE_UP_MS) {
        failures++;
        problems.report(`reach trial ${trial + 1}`, `B still accepted the token ${GIVE_UP_MS} ms after the logout on A`);
        break;
      }
      await sleep(Math.max(0, POLL_EVERY_MS - (performance.now() - started)));
    }
  }
  return {
    trialsMs,
    polls,
    p50Ms: percentile(trialsMs, 50),
    p99Ms: percentile(trialsMs, 99),
    maxMs: trialsMs.length > 0 ? Math.max(...trialsMs) : Number.NaN,
    failures,
  };
}
