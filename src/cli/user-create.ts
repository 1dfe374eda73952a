import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { read } from 'read';
import { createServices } from '../app.js';
import { readRoleOptions } from './role-options.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { isGatewayError } from '../errors.js';
import { createLogger } from '../logger.js';
import { EmailTakenError } from '../stores/users.store.js';

const USAGE = `Usage: npm run user:create -- --email EMAIL [--role ROLE ...]

Creates a user. The password is read from a prompt, or from standard input when it is not a terminal
(one line; the trailing newline is dropped). It is never taken from the command line, where it would
land in shell history and in the process list.

  --email EMAIL   the account's email address
  --role ROLE     a role from ROLES (default USER,ADMIN; any case); repeat for several; default USER
`;

/** Exit codes: 0 created, 1 refused or failed, 2 usage error. */
async function main(argv: readonly string[]): Promise<number> {
  let values: { email?: string; role?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { email: { type: 'string' }, role: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (error) {
    const passwordFlag = argv.some((arg) => /^--?password(=|$)/.test(arg));
    console.error(passwordFlag ? 'The password is never accepted as an argument: type it at the prompt or pipe it on stdin.' : (error as Error).message);
    console.error(USAGE);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.email) {
    console.error('--email is required.\n');
    console.error(USAGE);
    return 2;
  }
  // The configured roles (ROLES) decide which --role values exist, so the configuration is read first.
  const config = loadConfig(process.env);
  const roles = readRoleOptions(values.role ?? [], config.roles);
  if (roles === undefined) return 2;

  const password = await readPassword();
  // Logs go to stderr, and only errors unless asked for more: stdout carries only the result, for scripts.
  const quiet = config.logLevel === 'info' || config.logLevel === 'warn';
  const logger = createLogger(quiet ? 'error' : config.logLevel, { destination: 'stderr' });
  const { auth, database } = await createServices(config, logger);
  try {
    const user = await auth.createUser({ email: values.email, password, roles });
    console.log(JSON.stringify({ id: user.id, email: user.email, roles: user.roles }));
    return 0;
  } catch (error) {
    if (error instanceof EmailTakenError || isGatewayError(error)) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await read({ prompt: 'Password: ', silent: true, replace: '' });
    const second = await read({ prompt: 'Again: ', silent: true, replace: '' });
    if (first !== second) throw new UsageError('The two passwords differ.');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof UsageError) console.error(error.message);
    else console.error('user:create failed:', error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
