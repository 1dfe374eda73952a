import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordHasher, OWASP_ARGON2ID, parametersOf } from '../../src/auth/password.js';
import { ErrorCode } from '../../src/errors.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL } from './support.js';

/** ARGON2_* raised above the OWASP minimum the accounts below were hashed with. */
const RAISED = { memoryCost: 2 * OWASP_ARGON2ID.memoryCost, timeCost: OWASP_ARGON2ID.timeCost + 1, parallelism: 1 };

interface RawUser {
  email: string;
  passwordHash: string;
  passwordChangedAt: Date;
}

describe('after ARGON2_* is raised', () => {
  let gateway: TestGateway;
  const old = createPasswordHasher({ argon2: OWASP_ARGON2ID });
  const users = () => gateway.app.database.connection.db!.collection<RawUser>('users');

  beforeAll(async () => {
    gateway = await startGateway({
      config: testConfig({ ARGON2_MEMORY_KIB: String(RAISED.memoryCost), ARGON2_TIME_COST: String(RAISED.timeCost), ARGON2_PARALLELISM: String(RAISED.parallelism) }),
    });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  /** An account whose hash predates the raise, as it sits in the database. */
  async function oldAccount(email: string): Promise<RawUser> {
    const passwordHash = await old.hash(PASSWORD);
    const at = new Date(Date.now() - 86_400_000);
    await gateway.createUser({ email, password: PASSWORD });
    await users().updateOne({ email }, { $set: { passwordHash, passwordChangedAt: at } });
    const stored = await users().findOne({ email });
    expect(parametersOf(stored!.passwordHash)).toMatchObject(OWASP_ARGON2ID);
    return stored!;
  }

  it('re-hashes a correct password with the current parameters at sign-in, keeping passwordChangedAt', async () => {
    const before = await oldAccount('ada@example.com');
    const response = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'ada@example.com', password: PASSWORD } });
    expect(response.json?.errors).toBeUndefined();

    const after = await users().findOne({ email: 'ada@example.com' });
    expect(after!.passwordHash).not.toBe(before.passwordHash);
    expect(parametersOf(after!.passwordHash)).toMatchObject(RAISED);
    expect(after!.passwordChangedAt).toEqual(before.passwordChangedAt);
    // The new hash is the same password.
    const again = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'ada@example.com', password: PASSWORD } });
    expect(again.json?.errors).toBeUndefined();
  });

  it('leaves the hash alone after a wrong password', async () => {
    const before = await oldAccount('bob@example.com');
    const response = await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'bob@example.com', password: 'not the password' } });
    expect(firstCode(response)).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect((await users().findOne({ email: 'bob@example.com' }))!.passwordHash).toBe(before.passwordHash);
  });

  it('does not re-hash a hash that already has the current parameters', async () => {
    await gateway.createUser({ email: 'carol@example.com', password: PASSWORD });
    const before = (await users().findOne({ email: 'carol@example.com' }))!.passwordHash;
    expect(parametersOf(before)).toMatchObject(RAISED);
    await postGraphQL(gateway.url, { query: LOGIN, variables: { email: 'carol@example.com', password: PASSWORD } });
    expect((await users().findOne({ email: 'carol@example.com' }))!.passwordHash).toBe(before);
  });
});

describe('the dummy verify for unknown emails', () => {
  it('checks against a hash made with the current parameters, so it costs what a current account does', async () => {
    for (const argon2 of [OWASP_ARGON2ID, RAISED]) {
      const hasher = createPasswordHasher({ argon2 });
      const dummy = await hasher.dummyHash();
      expect(parametersOf(dummy)).toMatchObject(argon2);
      expect(hasher.needsRehash(dummy)).toBe(false);
      expect(parametersOf(await hasher.hash(PASSWORD))).toEqual(parametersOf(dummy));
    }
  });

  it('counts an unreadable or non-argon2id hash as one to replace', () => {
    const hasher = createPasswordHasher();
    expect(hasher.needsRehash('not a hash')).toBe(true);
    expect(hasher.needsRehash('$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA')).toBe(true);
    expect(hasher.needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA')).toBe(false);
  });
});
