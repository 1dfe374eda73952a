import { Secret, TOTP } from 'otpauth';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ErrorCode } from '../../src/errors.js';
import { BeginTotpEnrollmentDocument, ConfirmTotpEnrollmentDocument, LoginDocument } from '../generated/operations.js';
import { operatorEnv, removeOperatorEnvs, runCli } from '../support/cli.js';
import { randomSecret } from '../support/config.js';
import { startGateway } from '../support/gateway.js';

const PASSWORD = 'Tr0ub4dor&3-horse-battery';

afterAll(removeOperatorEnvs);

describe('user:remove-second-factor CLI', () => {
  it('removes a lost authenticator and its recovery codes: the account signs in with its password again, and the audit log says who did it', { timeout: 60_000 }, async () => {
    const env = operatorEnv({ JWT_SECRET: randomSecret() });
    const gateway = await startGateway({ config: loadConfig(env) });
    try {
      const user = await gateway.createUser({ email: 'lost-phone@example.com', password: PASSWORD });
      const first = await gateway.request(LoginDocument, { email: user.email, password: PASSWORD, delivery: 'BODY' });
      const auth = { headers: { authorization: `Bearer ${first.body.data?.login.accessToken ?? ''}` } };
      const secret = (await gateway.request(BeginTotpEnrollmentDocument, {}, auth)).body.data?.beginTotpEnrollment.secret ?? '';
      const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate();
      expect((await gateway.request(ConfirmTotpEnrollmentDocument, { code }, auth)).body.errors).toBeUndefined();
      const asked = await gateway.request(LoginDocument, { email: user.email, password: PASSWORD, delivery: 'BODY' });
      expect(asked.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.MFA_REQUIRED);

      const result = await runCli('src/cli/user-remove-second-factor.ts', ['--email', user.email], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ id: user.id, email: user.email });

      const again = await gateway.request(LoginDocument, { email: user.email, password: PASSWORD, delivery: 'BODY' });
      expect(again.body.errors).toBeUndefined();
      const events = await gateway.app.database.connection.db!.collection('audit_events').find({ userId: user.id, type: 'totp-disabled' }).toArray();
      expect(events.map((event) => event['detail'])).toEqual([expect.stringContaining('operator CLI')]);

      const unknown = await runCli('src/cli/user-remove-second-factor.ts', ['--email', 'nobody@example.com'], { env });
      expect(unknown.code).toBe(1);
    } finally {
      await gateway.stop();
    }
  });
});
