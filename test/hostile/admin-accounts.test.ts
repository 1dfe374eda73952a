import type { mongo } from 'mongoose';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import {
  CurrentSessionDocument,
  DisableUserDocument,
  EnableUserDocument,
  LoginDocument,
  MeDocument,
  RefreshDocument,
  SetUserRolesDocument,
  UsersDocument,
} from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { isRevocationViewRead } from '../support/commands.js';
import { startGateway, type GraphQLResponse, type RequestOptions, type TestGateway, rawCollection } from '../support/gateway.js';
import { PASSWORD } from './support.js';

/** The documented reach of a change across instances. */
const REACH_MS = 1_000;

interface SignedIn {
  readonly refreshToken: string;
  readonly auth: RequestOptions;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function codeOf(response: GraphQLResponse<unknown>): unknown {
  return response.body.errors?.[0]?.extensions?.['code'];
}

/** Asks until `answered` holds; returns how long that took (Infinity: not within three times the reach). */
async function timeUntil<TData>(ask: () => Promise<GraphQLResponse<TData>>, answered: (response: GraphQLResponse<TData>) => boolean): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < REACH_MS * 3) {
    if (answered(await ask())) return performance.now() - started;
    await sleep(50);
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * An administrator works through instance A; the affected user's tokens are checked by instance B, which learns
 * of the change only through its revocation view.
 */
describe('administering accounts across two instances', () => {
  let config: Config;
  let a: TestGateway;
  let b: TestGateway;
  let admin: SignedIn;
  let counter = 0;

  beforeAll(async () => {
    config = testConfig();
    a = await startGateway({ config });
    b = await startGateway({ config });
    const root = await a.createUser({ email: 'root@example.com', password: PASSWORD, roles: ['ADMIN'] });
    admin = await signIn(a, root.email);
  });
  afterAll(async () => {
    await a?.app.stop();
    await b?.stop();
  });

  // Users have ObjectId ids, other collections strings: no _id type here.
  const raw = (name: string) => rawCollection<mongo.Document>(a, name);

  async function newUser(roles: Array<'USER' | 'ADMIN'> = []): Promise<{ id: string; email: string }> {
    counter++;
    return a.createUser({ email: `member-${counter}@example.com`, password: PASSWORD, roles });
  }

  async function signIn(gateway: TestGateway, email: string): Promise<SignedIn> {
    const response = await gateway.request(LoginDocument, { email, password: PASSWORD, delivery: 'BODY' });
    expect(response.body.errors).toBeUndefined();
    const login = response.body.data?.login;
    if (!login?.accessToken || !login.refreshToken) throw new Error('expected tokens in the login body');
    return { refreshToken: login.refreshToken, auth: { headers: { authorization: `Bearer ${login.accessToken}` } } };
  }

  async function auditTypes(userId: string): Promise<string[]> {
    return (await raw('audit_events').find({ userId }).sort({ at: 1 }).toArray()).map((event) => String(event['type']));
  }

  it('takes a removed role away from live access tokens on another instance within a second (FORBIDDEN)', async () => {
    const bob = await newUser(['USER', 'ADMIN']);
    const session = await signIn(b, bob.email);
    expect((await b.request(UsersDocument, {}, session.auth)).body.errors, 'control: the ADMIN field works before').toBeUndefined();

    const changed = await a.request(SetUserRolesDocument, { userId: bob.id, roles: ['user'] }, admin.auth);
    expect(changed.body.errors).toBeUndefined();
    expect(changed.body.data?.setUserRoles).toMatchObject({ id: bob.id, roles: ['USER'], disabled: false });

    const reach = await timeUntil(() => b.request(UsersDocument, {}, session.auth), (response) => codeOf(response) === ErrorCode.FORBIDDEN);
    expect(reach).toBeLessThan(REACH_MS);
    // The token is still good for what the user may still do, and says so.
    expect((await b.request(MeDocument, {}, session.auth)).body.data?.me.roles).toEqual(['USER']);
    expect((await b.request(CurrentSessionDocument, {}, session.auth)).body.data?.currentSession.roles).toEqual(['USER']);
    expect(await auditTypes(bob.id)).toEqual(['roles-changed']);

    // Giving the role back does not revive it in the old token: it comes with the next refresh.
    await a.request(SetUserRolesDocument, { userId: bob.id, roles: ['USER', 'ADMIN'] }, admin.auth);
    await sleep(REACH_MS);
    expect(codeOf(await b.request(UsersDocument, {}, session.auth))).toBe(ErrorCode.FORBIDDEN);
    const refreshed = await b.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH });
    const accessToken = refreshed.body.data?.refresh.accessToken ?? '';
    expect((await b.request(UsersDocument, {}, { headers: { authorization: `Bearer ${accessToken}` } })).body.errors).toBeUndefined();
  });

  it('checks the narrowed roles with no database command per request', async () => {
    const bob = await newUser(['USER', 'ADMIN']);
    const session = await signIn(b, bob.email);
    await a.request(SetUserRolesDocument, { userId: bob.id, roles: ['USER'] }, admin.auth);
    expect(await timeUntil(() => b.request(CurrentSessionDocument, {}, session.auth), (response) => response.body.data?.currentSession.roles.length === 1)).toBeLessThan(
      REACH_MS,
    );

    const client = b.app.database.connection.getClient();
    const commands: string[] = [];
    const onStart = (event: mongo.CommandStartedEvent): void => {
      const poll = isRevocationViewRead(event);
      if (!poll && event.commandName !== 'delete') commands.push(event.commandName);
    };
    client.on('commandStarted', onStart);
    try {
      expect(codeOf(await b.request(UsersDocument, {}, session.auth))).toBe(ErrorCode.FORBIDDEN);
      expect((await b.request(CurrentSessionDocument, {}, session.auth)).body.data?.currentSession.roles).toEqual(['USER']);
      await sleep(100);
    } finally {
      client.off('commandStarted', onStart);
    }
    expect(commands).toEqual([]);
  });

  it('ends a disabled account everywhere within a second (UNAUTHENTICATED), and refuses its login and refresh', async () => {
    const bob = await newUser();
    const session = await signIn(b, bob.email);
    expect((await b.request(MeDocument, {}, session.auth)).body.errors).toBeUndefined();

    const disabled = await a.request(DisableUserDocument, { userId: bob.id }, admin.auth);
    expect(disabled.body.errors).toBeUndefined();
    expect(disabled.body.data?.disableUser).toEqual({ id: bob.id, disabled: true });

    const reach = await timeUntil(
      () => b.request(MeDocument, {}, session.auth),
      (response) => codeOf(response) === ErrorCode.UNAUTHENTICATED && response.body.errors?.[0]?.extensions?.['reason'] === TokenRejection.TOKEN_INVALID,
    );
    expect(reach).toBeLessThan(REACH_MS);

    // Exactly the answer to a wrong password: nothing tells a guesser that the password was right.
    const login = await b.request(LoginDocument, { email: bob.email, password: PASSWORD, delivery: 'BODY' });
    const wrong = await b.request(LoginDocument, { email: bob.email, password: 'not the password at all', delivery: 'BODY' });
    expect(codeOf(login)).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(login.body.errors?.[0]?.message).toBe(wrong.body.errors?.[0]?.message);
    expect(codeOf(await b.request(RefreshDocument, { refreshToken: session.refreshToken }, { path: AUTH_PATH }))).toBe(ErrorCode.REFRESH_TOKEN_INVALID);

    const enabled = await a.request(EnableUserDocument, { userId: bob.id }, admin.auth);
    expect(enabled.body.data?.enableUser).toEqual({ id: bob.id, disabled: false });
    const again = await signIn(b, bob.email);
    expect((await b.request(MeDocument, {}, again.auth)).body.data?.me.id).toBe(bob.id);
    expect(await auditTypes(bob.id)).toEqual(['account-disabled', 'account-enabled']);
  });

  it('answers FORBIDDEN to a non-administrator and changes nothing', async () => {
    const mallory = await newUser();
    const bob = await newUser(['USER', 'ADMIN']);
    const session = await signIn(a, mallory.email);
    for (const response of [
      await a.request(SetUserRolesDocument, { userId: mallory.id, roles: ['ADMIN'] }, session.auth),
      await a.request(DisableUserDocument, { userId: bob.id }, session.auth),
      await a.request(EnableUserDocument, { userId: bob.id }, session.auth),
    ]) {
      expect(codeOf(response)).toBe(ErrorCode.FORBIDDEN);
    }
    const stored = await raw('users').findOne({ _id: new Types.ObjectId(mallory.id) });
    expect(stored?.['roles']).toEqual(['USER']);
    expect((await raw('users').findOne({ _id: new Types.ObjectId(bob.id) }))?.['disabled']).not.toBe(true);
  });

  it('answers BAD_USER_INPUT for an unknown role or none, and NOT_FOUND for an unknown user', async () => {
    const bob = await newUser();
    expect(codeOf(await a.request(SetUserRolesDocument, { userId: bob.id, roles: ['SUPERUSER'] }, admin.auth))).toBe(ErrorCode.BAD_USER_INPUT);
    expect(codeOf(await a.request(SetUserRolesDocument, { userId: bob.id, roles: [] }, admin.auth))).toBe(ErrorCode.BAD_USER_INPUT);
    const nobody = new Types.ObjectId().toHexString();
    expect(codeOf(await a.request(SetUserRolesDocument, { userId: nobody, roles: ['USER'] }, admin.auth))).toBe(ErrorCode.NOT_FOUND);
    expect(codeOf(await a.request(DisableUserDocument, { userId: nobody }, admin.auth))).toBe(ErrorCode.NOT_FOUND);
    expect(codeOf(await a.request(EnableUserDocument, { userId: 'not-an-id' }, admin.auth))).toBe(ErrorCode.NOT_FOUND);
    expect(await auditTypes(bob.id)).toEqual([]);
  });
});
