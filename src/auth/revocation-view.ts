import type { Logger } from '../logger.js';
import { revocationKey, type RevocationRecord, type RevocationsStore, type StoredRevocation, type UserRevocation } from '../stores/revocations.store.js';

export type RevocationCheck = 'live' | 'revoked' | 'unavailable';

/** What the view needs to know about an access token: its claims, already verified. */
export interface CheckedToken {
  readonly userId: string;
  readonly sessionId: string;
  readonly tokenId: string;
  /** The token's `gen` claim: the user's token generation when it was issued. */
  readonly generation: number;
}

export interface RevocationView {
  /** In memory, no database round trip: whether an access token may still be used. */
  check(token: CheckedToken): RevocationCheck;
  /** In memory: the token's roles, less any an administrator has taken away since it was issued. */
  currentRoles(token: CheckedToken & { readonly roles: readonly string[] }): readonly string[];
  /** Whether this process knows the session to be revoked, whatever the view's freshness. */
  isSessionRevoked(sessionId: string): boolean;
  /**
   * Whether this process knows that an access token it would issue now for this session and generation is
   * revoked (the session's entry, or a user-wide one), whatever the view's freshness.
   */
  wouldRevoke(token: Omit<CheckedToken, 'tokenId'>): boolean;
  /** Records revocations this process just wrote, so it enforces them before its next poll. */
  record(entries: readonly RevocationRecord[]): void;
  /**
   * Syncs as soon as the sync in flight is done, for a caller that found the view stale. When this process
   * stalled (one event-loop turn longer than the bound, e.g. thousands of subscriptions arriving at once) while
   * the database was fine, one round trip makes the view fresh again. Rejects when the sync fails.
   */
  syncNow(): Promise<void>;
  /** Loads every unexpired revocation, then keeps polling. Resolves once the first load is done. */
  start(): Promise<void>;
  stop(): void;
  /** For /readyz: false while the view is too far behind to be trusted. */
  isFresh(): boolean;
  size(): number;
  /** How long the load at start took, in milliseconds. */
  initialLoadMs(): number;
}

export interface RevocationViewOptions {
  readonly store: RevocationsStore;
  readonly logger: Logger;
  /** Wall clock for expiry decisions (injected in tests). */
  readonly now: () => number;
  /** How often to ask the database for new entries. */
  readonly pollIntervalMs: number;
  /**
   * The documented bound: once the last successful sync is older than this (the database is unreachable), the
   * view answers 'unavailable' and authenticated requests are refused rather than risk accepting a revoked token.
   */
  readonly maxLagMs: number;
  /** How often a poll is replaced by a full load, which repairs anything a poll could have missed. */
  readonly fullReloadMs?: number;
}

const PURGE_EVERY_MS = 10_000;
const DEFAULT_FULL_RELOAD_MS = 60_000;

/** A poll reads at most this many entries; the next one goes on from there. */
const POLL_LIMIT = 500;
/**
 * How long a hole in the numbering (a number not published while a later one is, see revocations.store.ts) may
 * hold polls back before a full load steps over it. Two instances publishing at once leave one for a moment;
 * one that stays is a writer that stopped between its inserts, or one running a release before the feed.
 */
const HOLE_WAIT_MS = 1_000;

/**
 * Where the next poll starts. `seen`: the last entry a poll read from the feed, which the next poll reads again to
 * notice that the top was removed (every entry expired and was swept, so numbering may start lower again). After a
 * full load there is no such entry to check (the top of a full load need not be in the feed): polls go on after it.
 */
type Cursor = { readonly seen: true; readonly seq: number; readonly key: string; readonly expiresAt: number } | { readonly seen: false; readonly seq: number };

/**
 * Every gateway process keeps the unexpired revocations in memory, so the per-request check costs a few map
 * lookups. Cross-instance freshness comes from polling (FerretDB has no change streams; on MongoDB they
 * would only shorten the delay).
 *
 * Polls follow the database's own order (each entry's `seq`, see revocations.store.ts), never a writer's
 * clock: a poll asks the feed for the entries numbered from the last one it saw onwards, each by `_id`, so an
 * idle poll costs three finds whatever the number of entries (a range query cost FerretDB a scan per poll).
 * Re-reading that last entry is how a poll notices that the top of the list was removed (every entry expired
 * and was swept, so numbering may start lower again), and a hole that stays longer than HOLE_WAIT_MS is stepped
 * over: either way the view loads everything, as it also does every `fullReloadMs` regardless.
 */
export function createRevocationView(options: RevocationViewOptions): RevocationView {
  const { store, logger, now, pollIntervalMs, maxLagMs } = options;
  const fullReloadMs = options.fullReloadMs ?? DEFAULT_FULL_RELOAD_MS;
  const sessions = new Map<string, number>();
  const tokens = new Map<string, number>();
  /** By user id, then by entry key. A user has a handful at most: each lives about one access-token lifetime. */
  const users = new Map<string, Map<string, UserRevocation>>();
  // Staleness is measured on the monotonic clock: the injected wall clock may jump in tests, real time not.
  let lastSyncMonotonic = Number.NEGATIVE_INFINITY;
  let lastFullLoadMonotonic = Number.NEGATIVE_INFINITY;
  let cursor: Cursor = { seen: false, seq: 0 };
  /** The last full load found nothing numbered: the numbering may start again at 1 (see fullLoad). */
  let restartsAtOne = false;
  /** When the current hole was first met (monotonic), or null. */
  let holeSinceMonotonic: number | null = null;
  let lastPurge = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  let initialLoadMs = 0;

  function record(entries: readonly RevocationRecord[]): void {
    for (const entry of entries) {
      if (entry.kind === 'user') {
        let forUser = users.get(entry.id);
        if (!forUser) users.set(entry.id, (forUser = new Map()));
        forUser.set(revocationKey(entry), entry);
      } else {
        const map = entry.kind === 'session' ? sessions : tokens;
        map.set(entry.id, Math.max(map.get(entry.id) ?? 0, entry.expiresAt.getTime()));
      }
    }
  }

  function isListed(map: Map<string, number>, id: string, at: number): boolean {
    const expiresAt = map.get(id);
    return expiresAt !== undefined && expiresAt > at;
  }

  /** The user-wide entries that apply to this token now. */
  function userEntriesFor(token: CheckedToken, at: number): UserRevocation[] {
    const forUser = users.get(token.userId);
    if (!forUser) return [];
    const applying: UserRevocation[] = [];
    for (const entry of forUser.values()) {
      if (entry.expiresAt.getTime() <= at || token.generation >= entry.belowGeneration) continue;
      if (entry.exceptSessionId === token.sessionId) continue;
      applying.push(entry);
    }
    return applying;
  }

  function purge(at: number): void {
    for (const map of [sessions, tokens]) for (const [id, expiresAt] of map) if (expiresAt <= at) map.delete(id);
    for (const [userId, forUser] of users) {
      for (const [key, entry] of forUser) if (entry.expiresAt.getTime() <= at) forUser.delete(key);
      if (forUser.size === 0) users.delete(userId);
    }
    lastPurge = at;
  }

  function recordStored(entries: readonly StoredRevocation[]): void {
    record(entries.map((entry) => entry.record));
  }

  /** The top of a full load: polls go on after it. */
  function topOf(entries: readonly StoredRevocation[]): number {
    let top = 0;
    for (const entry of entries) if (entry.seq !== null && entry.seq > top) top = entry.seq;
    return top;
  }

  async function fullLoad(): Promise<void> {
    const entries = await store.listAll();
    recordStored(entries);
    const top = topOf(entries);
    // Nothing numbered is stored (every entry expired and was swept): a writer that remembers its last number
    // goes on after it, one that does not starts again at 1. Polls look in both places until one answers.
    restartsAtOne = top === 0 && cursor.seq > 0;
    cursor = { seen: false, seq: top === 0 ? cursor.seq : top };
    holeSinceMonotonic = null;
    lastFullLoadMonotonic = performance.now();
  }

  async function poll(): Promise<void> {
    if (restartsAtOne) {
      const restarted = await store.readFrom(1, POLL_LIMIT);
      if (restarted.entries.length > 0) {
        restartsAtOne = false;
        cursor = { seen: false, seq: 0 };
      }
    }
    const from = cursor;
    const { entries, holeBelow } = await store.readFrom(from.seen ? from.seq : from.seq + 1, POLL_LIMIT);
    if (from.seen) {
      const first = entries[0];
      if (first === undefined || first.key !== from.key || first.record.expiresAt.getTime() !== from.expiresAt) {
        // The entry the last poll ended on is gone or replaced: the numbering restarted below it. Load everything.
        await fullLoad();
        return;
      }
    }
    recordStored(entries);
    const last = entries.at(-1);
    if (last && last.seq !== null) cursor = { seen: true, seq: last.seq, key: last.key, expiresAt: last.record.expiresAt.getTime() };
    if (!holeBelow) {
      holeSinceMonotonic = null;
      return;
    }
    holeSinceMonotonic ??= performance.now();
    if (performance.now() - holeSinceMonotonic >= HOLE_WAIT_MS) await fullLoad();
  }

  async function sync(): Promise<void> {
    const startedMonotonic = performance.now();
    if (startedMonotonic - lastFullLoadMonotonic >= fullReloadMs) await fullLoad();
    else await poll();
    lastSyncMonotonic = startedMonotonic;
    const at = now();
    if (at - lastPurge > PURGE_EVERY_MS) purge(at);
  }

  /** Syncs run one at a time: a poll and a full load must not move the cursor concurrently. */
  let syncing: Promise<void> = Promise.resolve();
  let requested: Promise<void> | null = null;

  function runSync(): Promise<void> {
    const run = syncing.then(sync, sync);
    syncing = run.catch(() => undefined);
    return run;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      runSync().then(
        () => {
          if (failing) logger.info('revocation view is syncing again');
          failing = false;
        },
        (error: unknown) => {
          if (!failing) logger.error({ err: error }, 'revocation view cannot sync; authenticated requests will be refused if this lasts');
          failing = true;
        },
      ).finally(schedule);
    }, pollIntervalMs);
    timer.unref();
  }

  return {
    check(token: CheckedToken): RevocationCheck {
      if (performance.now() - lastSyncMonotonic > maxLagMs) return 'unavailable';
      const at = now();
      if (isListed(sessions, token.sessionId, at) || isListed(tokens, token.tokenId, at)) return 'revoked';
      return userEntriesFor(token, at).some((entry) => entry.roles === null) ? 'revoked' : 'live';
    },
    currentRoles(token: CheckedToken & { readonly roles: readonly string[] }): readonly string[] {
      let roles = token.roles;
      for (const entry of userEntriesFor(token, now())) {
        const allowed = entry.roles;
        if (allowed !== null) roles = roles.filter((role) => allowed.includes(role));
      }
      return roles;
    },
    isSessionRevoked: (sessionId: string): boolean => isListed(sessions, sessionId, now()),
    wouldRevoke(token: Omit<CheckedToken, 'tokenId'>): boolean {
      const at = now();
      if (isListed(sessions, token.sessionId, at)) return true;
      return userEntriesFor({ ...token, tokenId: '' }, at).some((entry) => entry.roles === null);
    },
    record,
    syncNow(): Promise<void> {
      requested ??= runSync().finally(() => {
        requested = null;
      });
      return requested;
    },
    async start(): Promise<void> {
      const startedAt = performance.now();
      await runSync();
      initialLoadMs = performance.now() - startedAt;
      schedule();
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    isFresh(): boolean {
      return performance.now() - lastSyncMonotonic <= maxLagMs;
    },
    size(): number {
      let userEntries = 0;
      for (const forUser of users.values()) userEntries += forUser.size;
      return sessions.size + tokens.size + userEntries;
    },
    initialLoadMs: (): number => initialLoadMs,
  };
}
