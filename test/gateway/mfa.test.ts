import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { parse } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readRules } from '../../src/upstreams/rules.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { send, signIn, startUpstream, type TestUpstream } from './support.js';

const PASSWORD = 'correct horse battery staple';

const VAULT_SDL = `directive @authorized(roles: [String!], mfa: Boolean) on FIELD_DEFINITION | OBJECT
directive @public on FIELD_DEFINITION
type Query {
  lobby: String @public
  vault: String @authorized(mfa: true)
  adminVault: String @authorized(roles: ["ADMIN"], mfa: true)
  account: Account
}

type Account @authorized(mfa: true) {
  balance: Int
}
`;

const VAULT_RESOLVERS = {
  Query: { lobby: () => 'the lobby', vault: () => 'the vault', adminVault: () => 'the admin vault', account: () => ({ balance: 42 }) },
};

describe('@authorized(mfa: true) on upstream fields', () => {
  let vault: TestUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    vault = await startUpstream({ service: true, sdl: VAULT_SDL, resolvers: VAULT_RESOLVERS });
    gateway = await startGateway({ config: testConfig({ UPSTREAMS: `vault=${vault.url}`, ROLES: 'EDITOR', MFA_REQUIRED_ROLES: 'EDITOR' }) });
  });
  afterAll(async () => {
    await gateway?.stop();
    await vault?.close();
  });
  beforeEach(() => vault.reset());

  /** A user who signs in with password and TOTP: enrolled through the gateway, the code computed here. */
  async function multiFactorToken(roles: string[]): Promise<string> {
    const email = `mfa-${randomBytes(4).toString('hex')}@example.com`;
    const first = await signIn(gateway.url, gateway.createUser, email, roles);
    const begun = await send(gateway.url, 'mutation { beginTotpEnrollment { secret } }', { token: first });
    const secret = (begun.body.data?.['beginTotpEnrollment'] as { secret: string }).secret;
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    const step = Math.floor(Date.now() / 30_000);
    await send(gateway.url, 'mutation($code: String!) { confirmTotpEnrollment(code: $code) }', { token: first, variables: { code: totp.generate({ timestamp: step * 30_000 }) } });
    const login = await send(gateway.url, 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
      variables: { email, password: PASSWORD },
    });
    expect(login.body.errors?.[0]?.extensions?.['code']).toBe('MFA_REQUIRED');
    const challenge = login.body.errors?.[0]?.extensions?.['challenge'];
    // The next step's code: the confirming one was spent (replays are refused), and the window takes one step ahead.
    const verified = await send(gateway.url, 'mutation($challenge: String!, $code: String!) { verifySecondFactor(challenge: $challenge, code: $code, delivery: BODY) { accessToken } }', {
      variables: { challenge, code: totp.generate({ timestamp: (step + 1) * 30_000 }) },
    });
    const token = (verified.body.data?.['verifySecondFactor'] as { accessToken?: string } | undefined)?.accessToken;
    if (!token) throw new Error(`second factor failed: ${JSON.stringify(verified.body)}`);
    return token;
  }

  it('refuses a password-only session with FORBIDDEN / MFA_REQUIRED, pruned before the upstream call', async () => {
    const token = await signIn(gateway.url, gateway.createUser, `pwd-${randomBytes(4).toString('hex')}@example.com`, []);
    const answer = await send(gateway.url, '{ lobby vault account { balance } }', { token });
    expect(answer.body.data).toEqual({ lobby: 'the lobby', vault: null, account: null });
    const byPath = Object.fromEntries((answer.body.errors ?? []).map((error) => [(error.path ?? []).join('.'), error.extensions]));
    expect(byPath).toEqual({ vault: { code: 'FORBIDDEN', reason: 'MFA_REQUIRED' }, account: { code: 'FORBIDDEN', reason: 'MFA_REQUIRED' } });
    expect(vault.count('Query.lobby')).toBe(1);
    expect(vault.count('Query.vault')).toBe(0);
    expect(vault.count('Query.account')).toBe(0);
    expect(vault.count('Account.balance')).toBe(0);
  });

  it('lets a session with a second factor through, and tells the upstream how and when it signed in', async () => {
    const token = await multiFactorToken([]);
    const answer = await send(gateway.url, '{ vault account { balance } }', { token });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({ vault: 'the vault', account: { balance: 42 } });
    expect(vault.count('Query.vault')).toBe(1);
    const identity = vault.operations()[0]?.headers['authorization']?.slice('Bearer '.length) ?? '';
    const claims = decodeJwt(identity);
    expect(claims['amr']).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims['auth_time']).toBe(decodeJwt(token)['auth_time']);
  });

  it('combines with roles: a multi-factor session without the role gets FORBIDDEN with no reason', async () => {
    const token = await multiFactorToken([]);
    const answer = await send(gateway.url, '{ adminVault }', { token });
    expect(answer.body.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN' });
    expect(vault.count('Query.adminVault')).toBe(0);
    const admin = await multiFactorToken(['ADMIN']);
    expect((await send(gateway.url, '{ adminVault }', { token: admin })).body.data).toEqual({ adminVault: 'the admin vault' });
  });

  it('keeps a session that must first enroll a second factor (MFA_REQUIRED_ROLES) away from every upstream', async () => {
    const token = await signIn(gateway.url, gateway.createUser, `editor-${randomBytes(4).toString('hex')}@example.com`, ['EDITOR']);
    const answer = await send(gateway.url, '{ lobby }', { token });
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('MFA_ENROLLMENT_REQUIRED');
    expect(vault.operations()).toHaveLength(0);
  });

  it('reads mfa: from SDL and refuses a value that is not a boolean', () => {
    const good = readRules({ upstream: 'vault', sdl: parse(VAULT_SDL), knownRoles: ['USER', 'ADMIN'] });
    expect(good.problems).toEqual([]);
    expect(good.fields.get('Query.vault')).toEqual({ kind: 'authorized', roles: [], mfa: true });
    expect(good.fields.get('Query.lobby')).toEqual({ kind: 'public' });
    const bad = readRules({ upstream: 'vault', sdl: parse('type Query { x: String @authorized(mfa: "yes") }'), knownRoles: ['USER'] });
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]).toMatch(/mfa/);
  });
});
