import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createSessionLimit, type SessionLimit } from '../../src/auth/session-limit.js';
import { createSessionListsStore } from '../../src/stores/session-lists.store.js';
import { createSessionsStore, type SessionsStore } from '../../src/stores/sessions.store.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

const LIMIT = 5;
const DAY_MS = 86_400_000;

describe('the per-user session list under concurrent writers (unique inserts on FerretDB, no hashing in between)', () => {
  let gateway: TestGateway;
  let sessions: SessionsStore;
  let limit: SessionLimit;
  /** As another gateway process would have it: a store of its own, so a memory of its own. */
  let otherProcess: SessionLimit;
  let counter = 0;

  beforeAll(async () => {
    gateway = await startGateway();
    const database = gateway.app.database;
    sessions = await createSessionsStore(database);
    // Two processes' limits over one database: each with its own store and memory of the lists.
    const aProcess = async (): Promise<SessionLimit> =>
      createSessionLimit({
        lists: await createSessionListsStore(database),
        sessions,
        view: gateway.app.view,
        logger: createLogger('silent'),
        now: Date.now,
        maxSessionsPerUser: LIMIT,
        listLifetimeMs: DAY_MS,
      });
    limit = await aProcess();
    otherProcess = await aProcess();
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  async function storedSession(userId: string): Promise<{ id: string; expiresAt: Date }> {
    counter++;
    const at = Date.now();
    const session = {
      id: `limit-${counter}-${at}`,
      userId,
      createdAt: new Date(at),
      lastUsedAt: new Date(at),
      expiresAt: new Date(at + DAY_MS),
      revokedAt: null,
      userAgent: null,
      clientAddress: null,
      amr: ['pwd'],
      authTime: new Date(at),
    };
    await sessions.create(session);
    return { id: session.id, expiresAt: session.expiresAt };
  }

  it.each([
    ['when the list starts from the sessions (first login)', 0],
    ['when the list exists (later logins)', 1],
  ])('pushes out each session at most once, and exactly as many as the logins exceed the limit by, %s', { timeout: 60_000 }, async (_when, before) => {
    const userId = `user-${before}-${Date.now()}`;
    const earlier = await Promise.all(Array.from({ length: before }, () => storedSession(userId)));
    for (const session of earlier) expect(await limit.admit(userId, session)).toEqual([]);
    const created = await Promise.all(Array.from({ length: 20 }, () => storedSession(userId)));
    // Twenty admissions at once: every one reads the same version, one insert wins it, the rest build on it.
    const pushedOut = (await Promise.all(created.map((session) => limit.admit(userId, session)))).flat();
    expect(pushedOut).toHaveLength(20 + before - LIMIT);
    expect(new Set(pushedOut).size).toBe(20 + before - LIMIT);
    // One more admission finds exactly the survivors in the list: it pushes out one of them, and only one.
    const next = await storedSession(userId);
    const again = await limit.admit(userId, next);
    expect(again).toHaveLength(1);
    const survivors = [...earlier, ...created].map((session) => session.id).filter((id) => !pushedOut.includes(id));
    expect(survivors).toContain(again[0]);
  });

  it('keeps concurrent forgets and admissions: neither undoes the other', { timeout: 60_000 }, async () => {
    const userId = `user-mixed-${Date.now()}`;
    const first = await Promise.all(Array.from({ length: LIMIT }, () => storedSession(userId)));
    for (const session of first) expect(await limit.admit(userId, session)).toEqual([]);
    // Two of them end (marked in the sessions, as revoke does first) while three logins arrive.
    const ended = first.slice(0, 2);
    for (const session of ended) await sessions.revoke(session.id, new Date(), 'logout');
    const later = await Promise.all(Array.from({ length: 3 }, () => storedSession(userId)));
    const results = await Promise.all([limit.forget(userId, ended.map((session) => session.id)), ...later.map((session) => limit.admit(userId, session))]);
    const pushedOut = results.slice(1).flat() as string[];
    // Five live before, two ended, three new: six live, so exactly one of the three older live ones goes.
    expect(pushedOut).toHaveLength(1);
    expect(first.slice(2).map((session) => session.id)).toContain(pushedOut[0]);
  });

  it('stays exact when two processes, each remembering the list, admit at once, and after one forgets it', { timeout: 60_000 }, async () => {
    const userId = `user-two-${Date.now()}`;
    const first = await storedSession(userId);
    expect(await limit.admit(userId, first)).toEqual([]);
    expect(await otherProcess.admit(userId, await storedSession(userId))).toEqual([]);
    const created = await Promise.all(Array.from({ length: 16 }, () => storedSession(userId)));
    const pushedOut = (await Promise.all(created.map((session, i) => (i % 2 === 0 ? limit : otherProcess).admit(userId, session)))).flat();
    expect(pushedOut).toHaveLength(18 - LIMIT);
    expect(new Set(pushedOut).size).toBe(18 - LIMIT);
    // logoutEverywhere in one process drops the list; the other, still remembering it, must not write on top.
    await otherProcess.invalidate(userId);
    for (const id of pushedOut) await sessions.revoke(id, new Date(), 'session-limit');
    const next = await storedSession(userId);
    const again = await limit.admit(userId, next);
    expect(again).toHaveLength(1);
    expect(pushedOut).not.toContain(again[0]);
  });
});
