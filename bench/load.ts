import autocannon from 'autocannon';
import { JSON_HEADERS } from './client.js';
import type { Problems } from './problems.js';

/** One autocannon run, reduced to what the figures and results.json need. */
export interface LoadRun {
  readonly name: string;
  readonly connections: number;
  /** Wall-clock seconds autocannon ran (it stops on its next one-second tick after `duration`). */
  readonly seconds: number;
  /** Responses received. */
  readonly responses: number;
  /** responses / seconds. autocannon's own `requests.average` is a mean of per-second samples; short runs skew it. */
  readonly rps: number;
  /** autocannon records whole milliseconds: a 0.3 ms request counts as 0 or 1. */
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Responses the phase's `accept` refused (GraphQL errors, a missing field…). */
  readonly rejected: number;
  readonly firstRejected: string | undefined;
}

export interface LoadSpec {
  readonly name: string;
  readonly origin: string;
  readonly path?: string;
  readonly connections: number;
  readonly seconds: number;
  readonly body: string;
  /**
   * One body per connection instead of `body` (connection i sends bodies[i % length]): logins, one account per
   * connection, as a storm of different users would arrive.
   */
  readonly bodies?: readonly string[];
  /**
   * Requests each connection sends in turn (connection i sends items i, i + C, i + 2C …): 40 sessions' cookies, or bodies
   * that all differ. Overrides `body`/`bodies` and adds to `headers`.
   */
  readonly inTurn?: ReadonlyArray<{ readonly body?: string; readonly headers?: Readonly<Record<string, string>> }>;
  readonly headers?: Readonly<Record<string, string>>;
  /** Whether a response is the one this phase expects; checked on every response, not only on a sample. */
  readonly accept: (status: number, body: string) => boolean;
}

/** Expected shape of a successful GraphQL answer: data and no `errors` member. */
export function isCleanData(status: number, body: string): boolean {
  return status === 200 && body.startsWith('{"data":{') && !body.includes('"errors":');
}

export async function runLoad(spec: LoadSpec): Promise<LoadRun> {
  let rejected = 0;
  let firstRejected: string | undefined;
  let connection = 0;
  const onResponse = (status: number, body: string): void => {
    if (spec.accept(status, body)) return;
    rejected++;
    firstRejected ??= `HTTP ${status} ${body.slice(0, 300)}`;
  };
  const headers = { ...JSON_HEADERS, ...spec.headers };
  const path = spec.path ?? '/graphql';
  const result = await autocannon({
    url: `${spec.origin}${path}`,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: 10,
    method: 'POST',
    headers,
    body: spec.body,
    // Each connection gets request objects of its own: autocannon stores the built request on the request
    // object, so a body set through a shared one would end up the same for every connection.
    setupClient: (client: autocannon.Client): void => {
      const index = connection++;
      const inTurn = spec.inTurn;
      if (inTurn && inTurn.length > 0) {
        // Strided, not rotated: connection i sends items i, i + C, i + 2C … (C connections), so no two connections
        // send the same item within length / C requests of each other. Rotated (i, i + 1 …), a connection one
        // request behind its neighbour sent the very request the neighbour was sending, which in-flight
        // de-duplication merged.
        const ordered = Array.from({ length: inTurn.length }, (_unused, step) => inTurn[(index + step * spec.connections) % inTurn.length] as (typeof inTurn)[number]);
        client.setRequests(ordered.map((item) => ({ method: 'POST', path, headers: { ...headers, ...item.headers }, body: item.body ?? spec.body, onResponse })));
        return;
      }
      const body = spec.bodies ? (spec.bodies[index % spec.bodies.length] as string) : spec.body;
      client.setRequests([{ method: 'POST', path, headers, body, onResponse }]);
    },
  });
  return summarize(spec.name, result, rejected, firstRejected);
}

export function summarize(name: string, result: autocannon.Result, rejected: number, firstRejected: string | undefined): LoadRun {
  const responses = result.requests.total;
  return {
    name,
    connections: result.connections,
    seconds: result.duration,
    responses,
    rps: result.duration > 0 ? responses / result.duration : 0,
    latencyMs: { mean: result.latency.mean, p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rejected,
    firstRejected,
  };
}

/** Reports a run that had any failure at all, or no responses; returns whether it was clean. */
export function checkRun(problems: Problems, run: LoadRun): boolean {
  const failures: string[] = [];
  if (run.responses === 0) failures.push('no responses');
  if (run.non2xx > 0) failures.push(`${run.non2xx} non-2xx`);
  if (run.errors > 0) failures.push(`${run.errors} connection errors`);
  if (run.timeouts > 0) failures.push(`${run.timeouts} timeouts`);
  if (run.rejected > 0) failures.push(`${run.rejected} unexpected bodies, first: ${run.firstRejected ?? ''}`);
  if (failures.length === 0) return true;
  problems.report(run.name, failures.join('; '));
  return false;
}

/**
 * A few requests by hand before a phase, failing the bench (smoke included) when the answer is wrong: a broken
 * request shape would otherwise produce a fast, meaningless figure made of errors.
 */
export async function sampleBodies(spec: Pick<LoadSpec, 'name' | 'origin' | 'path' | 'body' | 'headers' | 'accept'>, count = 3): Promise<string> {
  let last = '';
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${spec.origin}${spec.path ?? '/graphql'}`, { method: 'POST', headers: { ...JSON_HEADERS, ...spec.headers }, body: spec.body });
    last = await response.text();
    if (!spec.accept(response.status, last)) throw new Error(`${spec.name}: sample request answered HTTP ${response.status} ${last.slice(0, 300)}`);
  }
  return last;
}
