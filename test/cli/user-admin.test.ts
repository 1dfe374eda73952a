import { afterAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type Env } from '../../src/config/config.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { LoginDocument, MeDocument } from '../generated/operations.js';
import { operatorEnv, removeOperatorEnvs, runCli } from '../support/cli.js';
import { randomSecret } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'Tr0ub4dor&3-horse-battery';

afterAll(removeOperatorEnvs);

/** A gateway in this process on the operator's database: what the CLI's changes must reach. */
async function gatewayFor(env: Env): Promise<TestGateway> {
  return startGateway({ config: loadConfig(env) });
}

async function signIn(gateway: TestGateway, email: string): Promise<{ code: unknown; auth: { headers: Record<string, string> } }> {
  const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
  return {
    code: response.body.errors?.[0]?.extensions?.['code'],
    auth: { headers: { authorization: `Bearer ${response.body.data?.login.accessToken ?? ''}` } },
  };
}

describe('user:set-roles, user:disable and user:enable CLIs', () => {
  it('replaces the roles, prints the account as JSON, and records who did it', { timeout: 60_000 }, async () => {
    const env = operatorEnv({ JWT_SECRET: randomSecret() });
    const gateway = await gatewayFor(env);
    try {
      const user = await gateway.createUser({ email: 'ops@example.com', password: PASSWORD });
      const result = await runCli('src/cli/user-set-roles.ts', ['--email', ' OPS@example.com', '--role', 'admin', '--role', 'USER', '--role', 'admin'], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ id: user.id, email: 'ops@example.com', roles: ['ADMIN', 'USER'], disabled: false });
      expect((await gateway.app.auth.getUser(user.id))?.roles).toEqual(['ADMIN', 'USER']);
      const events = await gateway.app.database.connection.db!.collection('audit_events').find({ userId: user.id }).toArray();
      expect(events.map((event) => [event['type'], event['detail']])).toEqual([['roles-changed', expect.stringContaining('operator CLI')]]);
    } finally {
      await gateway.stop();
    }
  });

  it('disables an account: its live token is refused by a running gateway and it cannot sign in, until enabled', { timeout: 90_000 }, async () => {
    const env = operatorEnv({ JWT_SECRET: randomSecret() });
    const gateway = await gatewayFor(env);
    try {
      const user = await gateway.createUser({ email: 'leaver@example.com', password: PASSWORD });
      const session = await signIn(gateway, user.email);
      expect((await gateway.request(MeDocument, {}, session.auth)).body.data?.me.id).toBe(user.id);

      const disabled = await runCli('src/cli/user-disable.ts', ['--email', user.email], { env });
      expect(disabled.code, disabled.stderr).toBe(0);
      expect(JSON.parse(disabled.stdout)).toMatchObject({ id: user.id, disabled: true });
      await vi.waitFor(
        async () => {
          const me = await gateway.request(MeDocument, {}, session.auth);
          expect(me.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
        },
        { timeout: 1_000, interval: 50 },
      );
      expect((await signIn(gateway, user.email)).code).toBe(ErrorCode.INVALID_CREDENTIALS);

      const enabled = await runCli('src/cli/user-enable.ts', ['--email', user.email], { env });
      expect(enabled.code, enabled.stderr).toBe(0);
      expect(JSON.parse(enabled.stdout)).toMatchObject({ id: user.id, disabled: false });
      expect((await signIn(gateway, user.email)).code).toBeUndefined();
    } finally {
      await gateway.stop();
    }
  });

  it('exits with 1 for an email nobody has, and prints nothing on stdout', { timeout: 30_000 }, async () => {
    const result = await runCli('src/cli/user-disable.ts', ['--email', 'nobody@example.com'], { env: operatorEnv({ JWT_SECRET: randomSecret() }) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/No account/);
  });

  it.each([
    ['user:set-roles without --email', 'src/cli/user-set-roles.ts', ['--role', 'USER'], /--email/],
    ['user:set-roles without --role', 'src/cli/user-set-roles.ts', ['--email', 'a@example.com'], /--role/],
    ['user:set-roles with an unknown role', 'src/cli/user-set-roles.ts', ['--email', 'a@example.com', '--role', 'superuser'], /superuser/],
    ['user:enable without --email', 'src/cli/user-enable.ts', [], /--email/],
    ['user:disable with a --role', 'src/cli/user-disable.ts', ['--email', 'a@example.com', '--role', 'USER'], /--role/],
  ])('exits with 2 for %s', { timeout: 30_000 }, async (_case, script, args, message) => {
    const result = await runCli(script, args, { env: operatorEnv({ JWT_SECRET: randomSecret() }) });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });
});
