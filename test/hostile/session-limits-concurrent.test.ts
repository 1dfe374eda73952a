import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogoutDocument } from '../generated/operations.js';
import { startGateway, type TestGateway, rawCollection } from '../support/gateway.js';
import { testConfig } from '../support/config.js';
import { PASSWORD } from './support.js';

const LIMIT = 5;
const client = { userAgent: 'limits-concurrent-test', address: '127.0.0.1' };

describe(`MAX_SESSIONS_PER_USER=${LIMIT}, read by _id`, () => {
  let gateway: TestGateway;
  let counter = 0;

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ MAX_SESSIONS_PER_USER: String(LIMIT) }) });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const raw = (name: string) => rawCollection(gateway, name);
  const signIn = async (email: string): Promise<string> => (await signInWithToken(email)).sessionId;
  let address = 0;
  const signInWithToken = async (email: string): Promise<{ sessionId: string; token: string }> => {
    // One address per login: the throttle allows an account five attempts at once from one address.
    address++;
    const from = { ...client, address: `10.0.${address >> 8}.${address & 255}` };
    const session = await gateway.app.auth.signIn({ email, password: PASSWORD, client: from });
    return { sessionId: session.sessionId, token: session.accessToken.token };
  };

  async function newUser(): Promise<{ id: string; email: string }> {
    counter++;
    return gateway.createUser({ email: `limits-concurrent-${counter}@example.com`, password: PASSWORD });
  }

  async function liveSessions(userId: string): Promise<string[]> {
    const found = await raw('sessions').find({ userId, revokedAt: null }).toArray();
    return found.map((doc) => String(doc['_id']));
  }

  it('ends exactly as many sessions as concurrent logins exceed the limit by, each for the limit', { timeout: 120_000 }, async () => {
    const user = await newUser();
    for (let i = 0; i < 3; i++) await signIn(user.email);
    // Twelve logins at once: their list writes race, and a unique insert lets one win each version.
    const started = await Promise.all(Array.from({ length: 12 }, () => signIn(user.email)));

    const live = await liveSessions(user.id);
    expect(live).toHaveLength(LIMIT);
    const ended = await raw('sessions').find({ userId: user.id, revokedAt: { $ne: null } }).toArray();
    expect(ended).toHaveLength(3 + 12 - LIMIT);
    for (const doc of ended) expect(doc['revokedReason']).toBe('session-limit');
    // Every live session is one of the concurrent logins (the three older ones went first).
    for (const id of live) expect(started).toContain(id);

    // The next login, on its own, ends exactly one more: the list agrees with the sessions.
    await signIn(user.email);
    expect(await liveSessions(user.id)).toHaveLength(LIMIT);
  });

  it('counts a logged-out session no more: the next login ends nobody', { timeout: 60_000 }, async () => {
    const user = await newUser();
    const signedIn: Array<{ sessionId: string; token: string }> = [];
    for (let i = 0; i < LIMIT; i++) signedIn.push(await signInWithToken(user.email));
    const ids = signedIn.map((session) => session.sessionId);
    const loggedOut = await gateway.request(LogoutDocument, {}, { headers: { authorization: `Bearer ${signedIn[2]!.token}` } });
    expect(loggedOut.body.errors).toBeUndefined();
    const next = await signIn(user.email);
    expect((await liveSessions(user.id)).sort()).toEqual([...ids.filter((_id, index) => index !== 2), next].sort());
  });

  it('rebuilds from the sessions a list that was forgotten or lost, and still ends the oldest', { timeout: 60_000 }, async () => {
    const user = await newUser();
    const ids: string[] = [];
    for (let i = 0; i < LIMIT; i++) ids.push(await signIn(user.email));
    await raw('session_list_heads').deleteOne({ _id: user.id } as never);
    ids.push(await signIn(user.email));
    expect((await liveSessions(user.id)).sort()).toEqual(ids.slice(1).sort());
    await raw('session_list_versions').deleteMany({});
    ids.push(await signIn(user.email));
    expect((await liveSessions(user.id)).sort()).toEqual(ids.slice(2).sort());
  });

  it('makes a login at the limit read sessions by _id only, never by a query on userId (a scan on FerretDB)', { timeout: 60_000 }, async () => {
    const user = await newUser();
    for (let i = 0; i < LIMIT; i++) await signIn(user.email);
    const connection = gateway.app.database.connection.getClient();
    const filters: unknown[] = [];
    const onStart = (event: mongo.CommandStartedEvent): void => {
      const target = event.command[event.commandName];
      if (event.commandName === 'find' && (target === 'sessions' || String(target).startsWith('session_list'))) filters.push(event.command['filter']);
    };
    connection.on('commandStarted', onStart);
    try {
      await signIn(user.email);
    } finally {
      connection.off('commandStarted', onStart);
    }
    expect(filters.length).toBeGreaterThan(0);
    for (const filter of filters) expect(Object.keys(filter as object)).toEqual(['_id']);
    expect(await liveSessions(user.id)).toHaveLength(LIMIT);
  });
});
