import type { Logger } from '../logger.js';
import type { SessionList, SessionListEntry, SessionListsStore } from '../stores/session-lists.store.js';
import type { SessionsStore } from '../stores/sessions.store.js';
import type { RevocationView } from './revocation-view.js';

/** MAX_SESSIONS_PER_USER at login, by `_id` reads only (see stores/session-lists.store.ts for why and how). */
export interface SessionLimit {
  /**
   * Adds a login's session (already stored) to its user's list; returns the ids of the live sessions it pushes
   * out, oldest first, for the caller to revoke. Of concurrent logins each builds on the other's list, so
   * together they end exactly as many as they exceed the limit by.
   */
  admit(userId: string, session: SessionListEntry): Promise<string[]>;
  /** Drops ended sessions from the user's list, so they no longer count. */
  forget(userId: string, sessionIds: readonly string[]): Promise<void>;
  /** After ending many sessions at once: one write, and the next login rebuilds the list from the sessions. */
  invalidate(userId: string): Promise<void>;
}

export interface SessionLimitDeps {
  readonly lists: SessionListsStore;
  readonly sessions: SessionsStore;
  readonly view: RevocationView;
  readonly logger: Logger;
  readonly now: () => number;
  readonly maxSessionsPerUser: number;
  /** How long a list outlives its last change: the longest a session in it can live. */
  readonly listLifetimeMs: number;
}

/**
 * Concurrent writers to one user's list each lose at most once per winner: with twenty logins of one user at
 * once, the last may lose nineteen times. Past a few losses a writer waits a moment (random, growing) so the
 * crowd spreads out; past this many, something is wrong.
 */
const MAX_ATTEMPTS = 64;
const CALM_AFTER = 3;

/** A few milliseconds, random, growing with the losses (at most about 50 ms). */
const calm = (attempt: number): Promise<void> | undefined =>
  attempt < CALM_AFTER ? undefined : new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * attempt)));
/** Pushed-out ids a list remembers: far more than logins of one user that are ever in flight at once. */
const REMEMBERED_PUSHED_OUT = 64;

const remember = (earlier: readonly string[], now: readonly string[]): string[] => [...earlier, ...now].slice(-REMEMBERED_PUSHED_OUT);

export function createSessionLimit(deps: SessionLimitDeps): SessionLimit {
  const { lists, sessions, view, logger, now } = deps;
  const max = deps.maxSessionsPerUser;

  async function admit(userId: string, session: SessionListEntry): Promise<string[]> {
    const at = now();
    const expiresAt = new Date(at + deps.listLifetimeMs);
    // Verdicts on eviction candidates, kept across retries: a session found ended stays ended.
    const live = new Map<string, boolean>();
    const isLive = async (entry: SessionListEntry): Promise<boolean> => {
      let verdict = live.get(entry.id);
      if (verdict === undefined) {
        const found = await sessions.find(entry.id);
        verdict = found !== null && found.revokedAt === null && found.expiresAt.getTime() > at;
        live.set(entry.id, verdict);
      }
      return verdict;
    };

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await calm(attempt);
      const current = await lists.latest(userId);
      if (current === null || 'lost' in current) {
        // No list to build on: the sessions collection is the authority (a scan on FerretDB, once per user).
        const stored = await sessions.listActive(userId, new Date(at));
        const entries: SessionListEntry[] = stored.filter((s) => s.id !== session.id).map((s) => ({ id: s.id, expiresAt: s.expiresAt }));
        entries.push(session);
        const pushedOut = entries.splice(0, Math.max(0, entries.length - max)).map((entry) => entry.id);
        const content = { sessions: entries, pushedOut: remember([], pushedOut) };
        if ((await lists.start(userId, content, expiresAt, current === null ? null : current.lost)) === 'inserted') return pushedOut;
        continue;
      }
      // Another login's start of the list saw this session and already pushed it out (and revokes it).
      if (current.pushedOut.includes(session.id)) return [];
      const { entries, pushedOut } = await admitTo(current, session, at, isLive);
      if ((await lists.append(userId, current, { sessions: entries, pushedOut: remember(current.pushedOut, pushedOut) }, expiresAt)) === 'inserted') {
        return pushedOut;
      }
    }
    // Never seen; the scan gives an answer (it may end a session another login is ending too: revoking is idempotent).
    logger.warn({ userId }, `the session list kept changing under ${MAX_ATTEMPTS} attempts; counting this login's sessions by a query`);
    return sessions.listActiveBeyond(userId, new Date(at), max);
  }

  /**
   * The list with the new session last. Entries that expired or that this process knows are revoked are dropped
   * first; past the limit, the oldest are checked one by one (one read each): an ended one just leaves the list,
   * a live one is pushed out.
   */
  async function admitTo(
    current: SessionList,
    session: SessionListEntry,
    at: number,
    isLive: (entry: SessionListEntry) => Promise<boolean>,
  ): Promise<{ entries: SessionListEntry[]; pushedOut: string[] }> {
    const entries = current.sessions.filter((entry) => entry.id !== session.id && entry.expiresAt.getTime() > at && !view.isSessionRevoked(entry.id));
    entries.push(session);
    const pushedOut: string[] = [];
    while (entries.length > max) {
      const oldest = entries.shift() as SessionListEntry;
      if (await isLive(oldest)) pushedOut.push(oldest.id);
    }
    return { entries, pushedOut };
  }

  async function forget(userId: string, sessionIds: readonly string[]): Promise<void> {
    const ended = new Set(sessionIds);
    const expiresAt = new Date(now() + deps.listLifetimeMs);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      await calm(attempt);
      const current = await lists.latest(userId);
      // No list: the next login builds one from the sessions, where these are already marked ended.
      if (current === null || 'lost' in current) return;
      const entries = current.sessions.filter((entry) => !ended.has(entry.id));
      if (entries.length === current.sessions.length) return;
      if ((await lists.append(userId, current, { sessions: entries, pushedOut: current.pushedOut }, expiresAt)) === 'inserted') return;
    }
    await lists.invalidate(userId);
  }

  return { admit, forget, invalidate: (userId: string): Promise<void> => lists.invalidate(userId) };
}
