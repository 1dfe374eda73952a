import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { createServices } from '../app.js';
import type { AdminActor, AuthService } from '../auth/auth-service.js';
import type { Role } from '../auth/roles.js';
import { readRoleOptions } from './role-options.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { isGatewayError } from '../errors.js';
import { createLogger } from '../logger.js';
import type { UserRecord } from '../stores/users.store.js';

/** What one of the account commands does once the account is found. */
export interface UserCommand {
  /** The npm script, for the usage text and messages. */
  readonly name: string;
  readonly summary: string;
  /** Whether the command takes `--role` (at least one). */
  readonly takesRoles: 'roles' | 'no-roles';
  run(auth: AuthService, actor: AdminActor, user: UserRecord, roles: readonly Role[]): Promise<UserRecord>;
}

function usage(command: UserCommand): string {
  const roleUsage = command.takesRoles === 'roles' ? ' --role ROLE [--role ROLE ...]' : '';
  const roleHelp = command.takesRoles === 'roles' ? `\n  --role ROLE     a role from ROLES (default USER,ADMIN; any case); repeat for several; replaces every role the account had` : '';
  return `Usage: npm run ${command.name} -- --email EMAIL${roleUsage}

${command.summary}

  --email EMAIL   the account's email address${roleHelp}
`;
}

/**
 * The shared body of user:set-roles, user:disable and user:enable. They act through the same service as the
 * admin mutations, so a change reaches every running gateway's live tokens within a second and is audited.
 * Exit codes: 0 done, 1 refused or failed (no such account, say), 2 usage error.
 */
export async function runUserCommand(command: UserCommand, argv: readonly string[]): Promise<number> {
  let values: { email?: string; role?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        email: { type: 'string' },
        role: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    console.error((error as Error).message);
    console.error(usage(command));
    return 2;
  }
  if (values.help) {
    console.log(usage(command));
    return 0;
  }
  if (!values.email) {
    console.error('--email is required.\n');
    console.error(usage(command));
    return 2;
  }
  if (command.takesRoles === 'no-roles' && values.role !== undefined) {
    console.error(`${command.name} takes no --role.\n`);
    console.error(usage(command));
    return 2;
  }
  // The configured roles (ROLES) decide which --role values exist, so the configuration is read first.
  const config = loadConfig(process.env);
  const roles = readRoleOptions(values.role ?? [], config.roles);
  if (roles === undefined) return 2;
  if (command.takesRoles === 'roles' && roles.length === 0) {
    console.error('At least one --role is required.\n');
    console.error(usage(command));
    return 2;
  }

  // Logs go to stderr, and only errors unless asked for more: stdout carries only the result, for scripts.
  const quiet = config.logLevel === 'info' || config.logLevel === 'warn';
  const logger = createLogger(quiet ? 'error' : config.logLevel, { destination: 'stderr' });
  const { auth, close } = await createServices(config, logger);
  try {
    const user = await auth.findUserByEmail(values.email);
    if (!user) {
      console.error(`No account has the email ${values.email.trim()}.`);
      return 1;
    }
    const updated = await command.run(auth, { kind: 'cli' }, user, roles);
    console.log(JSON.stringify({ id: updated.id, email: updated.email, roles: updated.roles, disabled: updated.disabled }));
    return 0;
  } catch (error) {
    if (isGatewayError(error)) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    await close();
  }
}

/** Runs a command as the process's main and exits with its code. */
export function main(command: UserCommand): void {
  runUserCommand(command, process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof ConfigError) console.error(error.message);
      else console.error(`${command.name} failed:`, error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
