import type { Logger } from '../logger.js';
import type { RevocationRecord, RevocationsStore } from '../stores/revocations.store.js';

export type RevocationCheck = 'live' | 'revoked' | 'unavailable';

export interface RevocationView {
  /** In memory, no database round trip: whether an access token of this session and id may still be used. */
  check(token: { sessionId: string; tokenId: string }): RevocationCheck;
  /** Whether this process knows the session to be revoked, whatever the view's freshness. */
  isSessionRevoked(sessionId: string): boolean;
  /** Records revocations this process just wrote, so it enforces them before its next poll. */
  record(entries: readonly RevocationRecord[]): void;
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
}

/**
 * Entries are polled by the writer's timestamp with this much overlap, so a writer whose clock is up to 30 s
 * behind, or whose insert committed late, is still picked up. Entries are keyed, so overlap costs nothing.
 */
const POLL_OVERLAP_MS = 30_000;
const PURGE_EVERY_MS = 10_000;

/**
 * Every gateway process keeps the unexpired revocations in memory, so the per-request check costs two map
 * lookups. Cross-instance freshness comes from polling (FerretDB has no change streams; on MongoDB they
 * would only shorten the delay).
 */
export function createRevocationView(options: RevocationViewOptions): RevocationView {
  const { store, logger, now, pollIntervalMs, maxLagMs } = options;
  const sessions = new Map<string, number>();
  const tokens = new Map<string, number>();
  // Staleness is measured on the monotonic clock: the injected wall clock may jump in tests, real time not.
  let lastSyncMonotonic = Number.NEGATIVE_INFINITY;
  let lastSyncWall = 0;
  let lastPurge = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  let initialLoadMs = 0;

  function record(entries: readonly RevocationRecord[]): void {
    for (const entry of entries) (entry.kind === 'session' ? sessions : tokens).set(entry.id, entry.expiresAt.getTime());
  }

  function isListed(map: Map<string, number>, id: string, at: number): boolean {
    const expiresAt = map.get(id);
    return expiresAt !== undefined && expiresAt > at;
  }

  function purge(at: number): void {
    for (const map of [sessions, tokens]) for (const [id, expiresAt] of map) if (expiresAt <= at) map.delete(id);
    lastPurge = at;
  }

  async function sync(): Promise<void> {
    const startedMonotonic = performance.now();
    const startedWall = now();
    const entries =
      lastSyncWall === 0
        ? await store.listActive(new Date(startedWall))
        : await store.listWrittenSince(new Date(lastSyncWall - POLL_OVERLAP_MS), new Date(startedWall));
    record(entries);
    lastSyncMonotonic = startedMonotonic;
    lastSyncWall = startedWall;
    if (startedWall - lastPurge > PURGE_EVERY_MS) purge(startedWall);
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      sync().then(
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
    check(token: { sessionId: string; tokenId: string }): RevocationCheck {
      if (performance.now() - lastSyncMonotonic > maxLagMs) return 'unavailable';
      const at = now();
      return isListed(sessions, token.sessionId, at) || isListed(tokens, token.tokenId, at) ? 'revoked' : 'live';
    },
    isSessionRevoked: (sessionId: string): boolean => isListed(sessions, sessionId, now()),
    record,
    async start(): Promise<void> {
      const startedAt = performance.now();
      await sync();
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
      return sessions.size + tokens.size;
    },
    initialLoadMs: (): number => initialLoadMs,
  };
}
