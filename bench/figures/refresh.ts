import autocannon from 'autocannon';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { JSON_HEADERS, loginForTokens, type Credentials } from '../client.js';
import type { GatewayProcess } from '../gateway.js';
import { checkRun, summarize, type LoadRun } from '../load.js';
import { commandDelta, scrapeMetrics, VIEW_READS, type CommandDelta } from '../metrics.js';
import type { BenchOptions } from '../options.js';
import type { Problems } from '../problems.js';
import { sleep } from '../stats.js';

/** Figure 4: refresh-token rotations on the happy path, and what each costs the database. */
export interface RefreshResult {
  readonly sessions: number;
  readonly run: LoadRun;
  readonly rotations: number;
  readonly rotationsPerSecond: number;
  /** Successor inserts the server made: rotations including those cut off when autocannon stopped. */
  readonly serverRotations: number;
  readonly commands: CommandDelta;
  /** Commands caused by requests / serverRotations (the goal: ≤ 2). */
  readonly commandsPerRotation: number;
  /** The same, per `${command} ${collection}`. */
  readonly perRotationByCommand: Record<string, number>;
}

const REFRESH_CONNECTIONS = 10;
const REFRESH = 'mutation ($t: String!) { refresh(refreshToken: $t) { refreshToken } }';

const refreshBody = (token: string): string => JSON.stringify({ query: REFRESH, variables: { t: token } });

function nextTokenOf(status: number, body: string): string | undefined {
  if (status !== 200) return undefined;
  try {
    const parsed = JSON.parse(body) as { data?: { refresh?: { refreshToken?: unknown } }; errors?: unknown };
    const token = parsed.data?.refresh?.refreshToken;
    return parsed.errors === undefined && typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

export async function measureRefresh(input: { gateway: GatewayProcess; users: readonly Credentials[]; options: BenchOptions; problems: Problems }): Promise<RefreshResult> {
  const { gateway, users, options, problems } = input;
  if (users.length < REFRESH_CONNECTIONS) throw new Error(`refresh: needs ${REFRESH_CONNECTIONS} accounts, got ${users.length}`);
  // One session per connection, each the head of its own chain: two connections sharing a chain would present
  // spent tokens (reuse) instead of measuring rotations. One account each keeps the logins clear of the throttle.
  const heads = await Promise.all(users.slice(0, REFRESH_CONNECTIONS).map((user) => loginForTokens(gateway.origin, user)));
  const pool = heads.map((head) => head.refreshToken);

  // One rotation by hand first, so a broken request shape fails here and not as a run of errors.
  const sample = await fetch(`${gateway.origin}${AUTH_PATH}`, { method: 'POST', headers: JSON_HEADERS, body: refreshBody(pool[0] as string) });
  const sampleBody = await sample.text();
  const sampled = nextTokenOf(sample.status, sampleBody);
  if (!sampled) throw new Error(`refresh: sample request answered HTTP ${sample.status} ${sampleBody.slice(0, 300)}`);
  pool[0] = sampled;

  let rotations = 0;
  let rejected = 0;
  let firstRejected: string | undefined;
  const before = await scrapeMetrics(gateway.origin);
  const result = await autocannon({
    url: `${gateway.origin}${AUTH_PATH}`,
    connections: REFRESH_CONNECTIONS,
    duration: options.durationSeconds,
    timeout: 10,
    method: 'POST',
    headers: { ...JSON_HEADERS },
    body: refreshBody(''),
    // Each connection keeps its chain in its own state here. autocannon's `context` cannot carry it: it is reset
    // to `initialContext` every time a connection wraps around its `requests` list, which with a one-request list
    // is before every request. setupClient runs once per connection, so this closure lives as long as it.
    setupClient: (client: autocannon.Client): void => {
      const chain = { token: pool.shift() };
      if (chain.token === undefined) throw new Error('refresh: more connections than logged-in sessions');
      client.setRequests([
        {
          method: 'POST',
          path: AUTH_PATH,
          headers: { ...JSON_HEADERS },
          setupRequest: (request: autocannon.Request): autocannon.Request => ({ ...request, body: refreshBody(chain.token ?? '') }),
          onResponse: (status: number, body: string): void => {
            const next = nextTokenOf(status, body);
            if (next) {
              chain.token = next;
              rotations++;
              return;
            }
            rejected++;
            firstRejected ??= `HTTP ${status} ${body.slice(0, 300)}`;
          },
        },
      ]);
    },
  });
  // Requests cut off when autocannon stopped still finish on the server; their commands belong in the count.
  await sleep(500);
  const after = await scrapeMetrics(gateway.origin);
  const run = summarize('refresh', result, rejected, firstRejected);
  checkRun(problems, run);

  const commands = commandDelta(before, after);
  // Per rotation the server completed (one successor insert each on the happy path), not per response
  // autocannon counted: rotations in flight when it stopped still ran, and their commands are in the count.
  const serverRotations = commands.byCommand['insert refresh_tokens'] ?? Number.NaN;
  const perRotationByCommand = Object.fromEntries(
    Object.entries(commands.byCommand)
      .filter(([key]) => !VIEW_READS.has(key) && !key.startsWith('delete '))
      .map(([key, count]) => [key, count / serverRotations]),
  );
  return {
    sessions: REFRESH_CONNECTIONS,
    run,
    rotations,
    rotationsPerSecond: rotations / run.seconds,
    commands,
    serverRotations,
    commandsPerRotation: commands.requests / serverRotations,
    perRotationByCommand,
  };
}
