import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const PASSWORD = 'correct horse battery staple';

interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
}

const started: ChildProcess[] = [];

/** `npm start` as a newcomer runs it, minus npm: the same entry point, a fresh DATA_DIR, no MONGODB_URI. */
async function startMain(env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(TSX, ['src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      const match = /listening on (http:\/\/[\d.]+:\d+)\/graphql/.exec(output);
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
  return { url, child, output: () => output };
}

async function stop(running: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGINT');
  return exited;
}

async function createUser(env: NodeJS.ProcessEnv, email: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(TSX, ['src/cli/user-create.ts', '--email', email], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stdin.end(`${PASSWORD}\n`);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, stdout };
}

async function login(url: string, email: string): Promise<unknown> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { user { email } } }', variables: { e: email, p: PASSWORD } }),
  });
  return response.json();
}

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

describe('starting with no MONGODB_URI', () => {
  // On a connected machine mongodb-memory-server downloads mongod here; where that is impossible, CI points
  // MONGOMS_SYSTEM_BINARY at scripts/mongod-shim.sh, which runs FerretDB in its place.
  it('runs an embedded database under DATA_DIR that the CLI shares and that keeps users across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-embedded-'));
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' };
    delete env['MONGODB_URI'];
    delete env['JWT_SECRET'];
    delete env['REFRESH_TOKEN_HASH_SECRET'];

    const first = await startMain(env);
    expect(first.output()).toContain('starting an embedded MongoDB');
    expect(first.output()).toContain('for development only');
    expect(existsSync(join(dataDir, 'mongod.json'))).toBe(true);

    const created = await createUser(env, 'Newcomer@Example.com');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ email: 'newcomer@example.com' });
    expect(await login(first.url, 'newcomer@example.com')).toEqual({ data: { login: { user: { email: 'newcomer@example.com' } } } });

    expect(await stop(first)).toBe(0);
    expect(existsSync(join(dataDir, 'mongod.json'))).toBe(false);

    const second = await startMain(env);
    expect(await login(second.url, 'newcomer@example.com')).toEqual({ data: { login: { user: { email: 'newcomer@example.com' } } } });
    expect(await stop(second)).toBe(0);

    const secrets = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
    const logs = first.output() + second.output();
    for (const value of [PASSWORD, ...Object.values(secrets)]) expect(logs).not.toContain(value);
  }, 180_000);

  it('refuses to start in production without MONGODB_URI and secrets, and says how to fix it', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', DATA_DIR: mkdtempSync(join(tmpdir(), 'portcullis-prod-')), PORT: '0' };
    delete env['MONGODB_URI'];
    delete env['JWT_SECRET'];
    delete env['REFRESH_TOKEN_HASH_SECRET'];
    await expect(startMain(env)).rejects.toThrow(/exited with 1[\s\S]*MONGODB_URI: required in production[\s\S]*JWT_SECRET: required in production[\s\S]*REFRESH_TOKEN_HASH_SECRET/);
  }, 60_000);
});
