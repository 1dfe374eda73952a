import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import mongoose from 'mongoose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config/config.js';
import { uniqueDatabaseUri } from '../support/config.js';

const ROOT = new URL('../../', import.meta.url).pathname;

const started: ChildProcess[] = [];
const databases: string[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const uri of databases.splice(0)) {
    const connection = await mongoose.createConnection(uri).asPromise();
    await connection.dropDatabase();
    await connection.close();
  }
});

/** The real entry point in production mode with WORKERS=2, on a database of its own. */
async function startWorkers(): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.includes(name)));
  const uri = uniqueDatabaseUri();
  databases.push(uri);
  const env = {
    ...inherited,
    NODE_ENV: 'production',
    MONGODB_URI: uri,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    REFRESH_TOKEN_HASH_SECRET: randomBytes(32).toString('base64url'),
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_ENABLED: 'true',
    LOG_LEVEL: 'info',
    WORKERS: '2',
  };
  // node itself (not the tsx CLI, which would be one more process between us and the primary).
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      const match = /Portcullis is listening on (http:\/\/[\d.]+:\d+)\/graphql \(production, 2 workers\)/.exec(output);
      if (match?.[1]) {
        clearInterval(check);
        resolve(match[1]);
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(check);
      reject(new Error(`the gateway exited with ${code} before listening:\n${output}`));
    });
  });
  return { child, url, output: () => output };
}

/** Children of a process, from Linux's /proc: the workers of the primary. */
function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** GET on a connection of its own (no keep-alive): the cluster hands each new connection to the next worker. */
function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The pid of the worker that answered this scrape (portcullis_process_info). */
async function answeringPid(url: string): Promise<number> {
  const { status, body } = await getFresh(`${url}/metrics`);
  expect(status).toBe(200);
  const match = /^portcullis_process_info\{pid="(\d+)",worker="(\d+)"\} 1$/m.exec(body);
  expect(match).not.toBeNull();
  return Number(match?.[1]);
}

async function pidsAnswering(url: string, requests: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < requests; i++) pids.add(await answeringPid(url));
  return pids;
}

async function graphqlTypename(url: string): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  return response.json();
}

describe('WORKERS=2 (node:cluster)', () => {
  it('serves one port from two workers, replaces one that dies, and stops them all on SIGTERM with exit 0', { timeout: 180_000 }, async () => {
    const { child, url, output } = await startWorkers();
    const primary = child.pid ?? -1;
    const workers = childPids(primary);
    expect(workers).toHaveLength(2);

    // Both workers answer on the one port.
    expect(await pidsAnswering(url, 8)).toEqual(new Set(workers));
    expect(await graphqlTypename(url)).toEqual({ data: { __typename: 'Query' } });

    // One dies (as a crash would): the other keeps answering, and a replacement takes its place.
    const [victim, survivor] = workers as [number, number];
    process.kill(victim, 'SIGKILL');
    expect(await graphqlTypename(url)).toEqual({ data: { __typename: 'Query' } });
    let replaced: number[] = [];
    for (let tries = 0; tries < 600 && replaced.length < 1; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      replaced = childPids(primary).filter((pid) => pid !== survivor && pid !== victim);
    }
    expect(replaced).toHaveLength(1);
    const replacement = replaced[0] ?? -1;
    // Listening once it answers: wait for the replacement to appear among those that answer.
    let seen = new Set<number>();
    for (let tries = 0; tries < 60 && !seen.has(replacement); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      seen = await pidsAnswering(url, 4);
    }
    expect(seen).toEqual(new Set([survivor, replacement]));
    expect(output()).toContain('a worker exited; starting a replacement');

    // SIGTERM to the primary drains every worker and exits 0; no worker outlives it.
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of [survivor, replacement]) expect(() => process.kill(pid, 0)).toThrow();
  });
});
