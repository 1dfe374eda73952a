import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mongoose from 'mongoose';
import type { Env } from '../../src/config/config.js';
import { randomSecret, uniqueDatabaseUri } from './config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
/** Spawning tsx takes a second or two; a CLI that has not exited well within this is stuck. */
export const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one of the project's CLIs as a user would: through tsx, from the repository root, with exactly `env`
 * (nothing inherited) and, when given, `stdin` piped in (so not a terminal).
 */
export function runCli(script: string, args: readonly string[], options: { env: Env; stdin?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [script, ...args], { cwd: ROOT, env: { ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not exit within ${CLI_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, CLI_TIMEOUT_MS - 2_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // The CLI may exit on a usage error before it reads stdin; a broken pipe then is expected.
    child.stdin.on('error', () => {});
    child.stdin.end(options.stdin ?? '');
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const databases: string[] = [];
const dataDirs: string[] = [];

/**
 * What an operator would export for a CLI: a database of its own, a real refresh-token secret, a temporary
 * DATA_DIR, silent logs; `overrides` add the rest (JWT_SECRET, JWT_ALGORITHM …). Each is removed by
 * `removeOperatorEnvs`, to be called in the test file's afterAll.
 */
export function operatorEnv(overrides: Env = {}): Env {
  const uri = uniqueDatabaseUri();
  databases.push(uri);
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
  dataDirs.push(dataDir);
  return {
    PATH: process.env['PATH'],
    NODE_ENV: 'test',
    MONGODB_URI: uri,
    REFRESH_TOKEN_HASH_SECRET: randomSecret(),
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    ...overrides,
  };
}

export async function removeOperatorEnvs(): Promise<void> {
  for (const uri of databases.splice(0)) {
    const connection = await mongoose.createConnection(uri).asPromise();
    await connection.dropDatabase();
    await connection.close();
  }
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
