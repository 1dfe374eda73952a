import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app.js';
import { loadConfig, type Env } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { CLI_TIMEOUT_MS, operatorEnv, removeOperatorEnvs, runCli, type CliResult } from '../support/cli.js';
import { randomSecret } from '../support/config.js';

const CLI = 'src/cli/user-create.ts';
const PASSWORD = 'Tr0ub4dor&3-horse-battery';

/** What an operator would export: a database of its own per test, real secrets, a temporary DATA_DIR. */
function cliEnv(): Env {
  return operatorEnv({ JWT_SECRET: randomSecret() });
}

/** Runs the CLI as a user would, with `stdin` piped in (not a terminal). */
function runUserCreate(args: readonly string[], env: Env, stdin: string): Promise<CliResult> {
  return runCli(CLI, args, { env, stdin });
}

async function countUsers(uri: string): Promise<number> {
  const connection = await mongoose.createConnection(uri).asPromise();
  try {
    return await connection.db!.collection('users').countDocuments();
  } finally {
    await connection.close();
  }
}

afterAll(removeOperatorEnvs);

describe('user:create CLI', () => {
  it('creates an admin from a password on stdin, prints it as JSON, and the user can sign in', { timeout: 60_000 }, async () => {
    const env = cliEnv();
    const result = await runUserCreate(['--email', '  Grace.Hopper@Example.COM ', '--role', 'admin'], env, `${PASSWORD}\n`);
    expect(result.stderr).not.toContain(PASSWORD);
    expect(result.stdout).not.toContain(PASSWORD);
    expect(result.code, result.stderr).toBe(0);

    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const printed = JSON.parse(lines[0]!) as { id: string; email: string; roles: string[] };
    expect(printed).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), email: 'grace.hopper@example.com', roles: ['ADMIN'] });

    const { auth, database } = await createServices(loadConfig(env), createLogger('silent'));
    try {
      // The trailing newline from stdin is not part of the password.
      const signedIn = await auth.signIn({ email: 'grace.hopper@example.com', password: PASSWORD, client: { userAgent: null, address: null } });
      expect(signedIn.user).toMatchObject({ id: printed.id, email: 'grace.hopper@example.com', roles: ['ADMIN'] });
    } finally {
      await database.close();
    }
  });

  it('gives a user the USER role when no role is named', { timeout: 30_000 }, async () => {
    const result = await runUserCreate(['--email', 'plain@example.com'], cliEnv(), PASSWORD);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ email: 'plain@example.com', roles: ['USER'] });
  });

  it.each([
    ['--password=value', (secret: string) => [`--password=${secret}`]],
    ['--password value', (secret: string) => ['--password', secret]],
  ])('refuses a password given as %s with exit code 2 and does not echo it', { timeout: 30_000 }, async (_form, passwordArgs) => {
    const secret = 'n0t-0n-the-c0mmand-line-4821';
    const env = cliEnv();
    const result = await runUserCreate(['--email', 'leak@example.com', ...passwordArgs(secret)], env, PASSWORD);
    expect(result.code).toBe(2);
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).toMatch(/never accepted as an argument/);
    expect(await countUsers(env['MONGODB_URI']!)).toBe(0);
  });

  it('exits with 2 when --email is missing', { timeout: 30_000 }, async () => {
    const env = cliEnv();
    const result = await runUserCreate(['--role', 'admin'], env, PASSWORD);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/--email/);
    expect(await countUsers(env['MONGODB_URI']!)).toBe(0);
  });

  it('exits with 2 for an unknown role', { timeout: 30_000 }, async () => {
    const env = cliEnv();
    const result = await runUserCreate(['--email', 'role@example.com', '--role', 'superuser'], env, PASSWORD);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/superuser/);
    expect(await countUsers(env['MONGODB_URI']!)).toBe(0);
  });

  it('accepts a role configured in ROLES, in any case', { timeout: 30_000 }, async () => {
    const env = { ...cliEnv(), ROLES: 'EDITOR,SUPPORT' };
    const result = await runUserCreate(['--email', 'editor@example.com', '--role', 'editor', '--role', 'USER'], env, PASSWORD);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ email: 'editor@example.com', roles: ['EDITOR', 'USER'] });
  });

  it('exits with 1 and creates nobody when the password is too short', { timeout: 30_000 }, async () => {
    const env = cliEnv();
    const short = 'short-pw7';
    const result = await runUserCreate(['--email', 'short@example.com'], env, `${short}\n`);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain(short);
    expect(await countUsers(env['MONGODB_URI']!)).toBe(0);
  });

  it('exits with 1 for an email that already exists, however it is cased', { timeout: 60_000 }, async () => {
    const env = cliEnv();
    const first = await runUserCreate(['--email', 'twice@example.com'], env, PASSWORD);
    expect(first.code, first.stderr).toBe(0);

    const second = await runUserCreate(['--email', ' TWICE@example.com', '--role', 'admin'], env, `another-${PASSWORD}`);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/already exists/);
    expect(await countUsers(env['MONGODB_URI']!)).toBe(1);
  });
});
