import { decodeJwt } from 'jose';
import type { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { LogoutEverywhereDocument, MeDocument, MySessionsDocument } from '../generated/operations.js';
import { startGateway, type GraphQLResponse, type RequestOptions, type TestGateway, rawCollection } from '../support/gateway.js';
import { PASSWORD } from './support.js';
import { isExpirySweep, isRevocationViewRead } from '../support/commands.js';

const LIMIT = 50;
const client = { userAgent: 'limits-test', address: '127.0.0.1' };

interface SignedIn {
  readonly sessionId: string;
  readonly auth: RequestOptions;
}

function expectRevoked(response: GraphQLResponse<unknown>): void {
  expect(response.body.errors?.[0]?.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason: TokenRejection.TOKEN_INVALID });
}


describe('sessions per user', () => {
  let gateway: TestGateway;
  let counter = 0;

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const raw = (name: string) => rawCollection(gateway, name);

  async function newUser(): Promise<{ id: string; email: string }> {
    counter++;
    return gateway.createUser({ email: `limits-${counter}@example.com`, password: PASSWORD });
  }

  /** Logins through the service (the HTTP path adds nothing here), one after another. */
  async function signInTimes(user: { email: string }, times: number): Promise<SignedIn[]> {
    const sessions: SignedIn[] = [];
    for (let i = 0; i < times; i++) {
      const session = await gateway.app.auth.signIn({ email: user.email, password: PASSWORD, client });
      sessions.push({ sessionId: session.sessionId, auth: { headers: { authorization: `Bearer ${session.accessToken.token}` } } });
    }
    return sessions;
  }

  it(`keeps at most ${LIMIT} live sessions: the 60th login has ended the 10 oldest`, { timeout: 120_000 }, async () => {
    const user = await newUser();
    const userId = user.id;
    const sessions = await signInTimes(user, 60);

    expect(await raw('sessions').countDocuments({ userId, revokedAt: null })).toBe(LIMIT);
    const ended = sessions.slice(0, 10);
    const kept = sessions.slice(10);
    for (const session of ended) {
      expect((await raw('sessions').findOne({ _id: session.sessionId }))?.['revokedReason']).toBe('session-limit');
    }
    expectRevoked(await gateway.request(MeDocument, {}, ended[0]!.auth));
    expect((await gateway.request(MeDocument, {}, kept[0]!.auth)).body.errors).toBeUndefined();

    const listed = await gateway.request(MySessionsDocument, {}, kept.at(-1)!.auth);
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data?.mySessions.map((session) => session.id)).toEqual(kept.map((session) => session.sessionId));
  });

  it(`lists at most ${LIMIT} sessions in mySessions even when more are live`, { timeout: 120_000 }, async () => {
    const user = await newUser();
    const userId = user.id;
    const [current] = await signInTimes(user, 1);
    // More live sessions than the limit, as concurrent logins could leave for a moment.
    const template = await raw('sessions').findOne({ _id: current!.sessionId });
    const extra = Array.from({ length: LIMIT + 20 }, (_unused, index) => ({ ...template, _id: `extra-${userId}-${index}`, createdAt: new Date(Date.now() - 60_000 + index) }));
    await raw('sessions').insertMany(extra as never[]);

    const listed = await gateway.request(MySessionsDocument, {}, current!.auth);
    expect(listed.body.errors).toBeUndefined();
    const ids = listed.body.data?.mySessions.map((session) => session.id) ?? [];
    expect(ids).toHaveLength(LIMIT);
    // The newest, oldest first: the current session (newest of all) last.
    expect(ids.at(-1)).toBe(current!.sessionId);
  });

  it('ends every session with logoutEverywhere at a cost that does not grow with their number', { timeout: 120_000 }, async () => {
    const connection = gateway.app.database.connection.getClient();

    async function commandsOfLogoutEverywhere(sessionCount: number): Promise<string[]> {
      const user = await newUser();
      const userId = user.id;
      const sessions = await signInTimes(user, sessionCount);
      const caller = sessions.at(-1)!;
      const commands: string[] = [];
      const onStart = (event: mongo.CommandStartedEvent): void => {
        if (isRevocationViewRead(event) || (event.commandName === 'delete' && isExpirySweep(event.command))) return;
        commands.push(`${event.commandName} ${String(event.command[event.commandName])}`);
      };
      connection.on('commandStarted', onStart);
      let response: GraphQLResponse<{ logoutEverywhere: number }>;
      try {
        response = await gateway.request(LogoutEverywhereDocument, {}, caller.auth);
      } finally {
        connection.off('commandStarted', onStart);
      }
      expect(response.body.errors).toBeUndefined();
      expect(response.body.data?.logoutEverywhere).toBe(sessionCount);
      for (const session of [sessions[0]!, caller]) expectRevoked(await gateway.request(MeDocument, {}, session.auth));
      expect(await raw('sessions').countDocuments({ userId, revokedAt: null })).toBe(0);
      await gateway.app.database.flushDeletes();
      expect(await raw('refresh_tokens').countDocuments({ userId })).toBe(0);
      return commands;
    }

    const few = await commandsOfLogoutEverywhere(3);
    const many = await commandsOfLogoutEverywhere(40);
    console.info(`logoutEverywhere: ${many.length} commands for 40 sessions (${few.length} for 3): ${many.join(', ')}`);
    expect(many.sort()).toEqual(few.sort());
    expect(many.length).toBeLessThanOrEqual(10);
  });

  it('keeps the access token of a session started after logoutEverywhere working', { timeout: 60_000 }, async () => {
    const user = await newUser();
    const userId = user.id;
    const [first] = await signInTimes(user, 1);
    expect((await gateway.request(LogoutEverywhereDocument, {}, first!.auth)).body.data?.logoutEverywhere).toBe(1);
    const [next] = await signInTimes(user, 1);
    expect((await gateway.request(MeDocument, {}, next!.auth)).body.data?.me.id).toBe(userId);
    expect(decodeJwt((next!.auth.headers?.['authorization'] ?? '').slice('Bearer '.length))['gen']).toBeGreaterThan(0);
  });
});
