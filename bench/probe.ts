import { Agent, request } from 'node:http';
import { JSON_HEADERS } from './client.js';
import { sleep } from './stats.js';

export interface ProbeResult {
  /** One latency per request, in milliseconds with sub-microsecond resolution. */
  readonly samplesMs: number[];
  readonly rejected: number;
  readonly firstRejected: string | undefined;
}

/**
 * Latency of one request shape at a fixed, light rate: one request in flight, a new one every `periodMs`, timed
 * with performance.now(). autocannon cannot answer "how slow does one query get while logins run": it records
 * whole milliseconds (an idle query takes well under one), and at full load its latency is its own queueing.
 */
export async function probeLatency(options: {
  url: string;
  body: string;
  headers: Readonly<Record<string, string>>;
  seconds: number;
  periodMs: number;
  accept: (status: number, body: string) => boolean;
}): Promise<ProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samplesMs: number[] = [];
  let rejected = 0;
  let firstRejected: string | undefined;
  const end = performance.now() + options.seconds * 1000;
  try {
    while (performance.now() < end) {
      const started = performance.now();
      const { status, body } = await post(agent, options.url, options.body, { ...JSON_HEADERS, ...options.headers });
      samplesMs.push(performance.now() - started);
      if (!options.accept(status, body)) {
        rejected++;
        firstRejected ??= `HTTP ${status} ${body.slice(0, 300)}`;
      }
      await sleep(Math.max(0, options.periodMs - (performance.now() - started)));
    }
  } finally {
    agent.destroy();
  }
  return { samplesMs, rejected, firstRejected };
}

function post(agent: Agent, url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
