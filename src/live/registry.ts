import type { SignedInViewer } from '../auth/auth-service.js';
import type { RevocationView } from '../auth/revocation-view.js';
import type { Logger } from '../logger.js';
import { LiveClose, type LiveConnection } from './types.js';

export interface LiveRegistry {
  /**
   * Counts one more connection from this address, from the upgrade on (before it says who it is); false when
   * the address already holds SUBSCRIPTION_CONNECTIONS_PER_ADDRESS. Each true is matched by one releaseAddress.
   */
  claimAddress(address: string): boolean;
  releaseAddress(address: string): void;
  /** Adds a connection whose identity is known; false when its session already holds the most it may. */
  add(connection: LiveConnection): boolean;
  remove(connection: LiveConnection): void;
  /** Checks every connection against the revocation view now (the timer does so every SWEEP_MS). */
  sweep(): void;
  /** Closes every connection with 1012 (reconnect) and stops the timer. */
  stop(): void;
  /** Connections and operations open on this instance. */
  counts(): { connections: number; operations: number };
}

export interface LiveRegistryOptions {
  readonly view: RevocationView;
  readonly logger: Logger;
  readonly now: () => number;
  readonly connectionsPerSession: number;
  readonly connectionsPerAddress: number;
  /** How often every connection is checked; with the view's 250 ms poll, a revocation ends it well within 1 s. */
  readonly sweepMs?: number;
}

const SWEEP_MS = 200;
/**
 * A stale view closes connections (1013) only once a sync asked for at once has not made it fresh within this.
 * A view goes stale either because the database cannot be read (the sync fails too, and they close) or because
 * this process stalled: one event-loop turn of several seconds, e.g. a reconnect storm of thousands of
 * subscriptions arriving together. Closing every connection then would only bring the next storm.
 */
const STALE_GRACE_MS = 1_000;

/**
 * The one owner of live connections' lifetime. Every SWEEP_MS it asks the in-memory revocation view about each
 * signed-in connection (a few map lookups, no database read): a revoked session or account closes it (4403),
 * a view too stale to vouch closes it (1013, once a sync asked for at once has not mended it within
 * STALE_GRACE_MS), the session's absolute end closes it (4403), and roles taken away
 * narrow its viewer and make each operation decide again (those now denied end; the rest go on). Indexed by
 * session so the per-session limit is a map lookup.
 */
export function createLiveRegistry(options: LiveRegistryOptions): LiveRegistry {
  const { view, logger, now } = options;
  const all = new Set<LiveConnection>();
  const bySession = new Map<string, Set<LiveConnection>>();
  const byAddress = new Map<string, number>();
  const timer = setInterval(sweep, options.sweepMs ?? SWEEP_MS);
  timer.unref();

  /** When the sweep first found the view stale (monotonic), or undefined while it is fresh. */
  let staleSince: number | undefined;
  let refreshing = false;

  /** Whether a stale view has now lasted past the grace; asks for a sync the first time it is seen. */
  function staleTooLong(): boolean {
    if (view.isFresh()) {
      staleSince = undefined;
      return false;
    }
    staleSince ??= performance.now();
    if (!refreshing) {
      refreshing = true;
      view
        .syncNow()
        .catch(() => undefined)
        .finally(() => {
          refreshing = false;
        });
    }
    return performance.now() - staleSince >= STALE_GRACE_MS;
  }

  function sweep(): void {
    const at = now();
    const closeUnavailable = staleTooLong();
    for (const connection of all) {
      const { token, sessionEndsAt } = connection.identity;
      if (!token) continue;
      const check = view.check(token);
      // What this process knows to be revoked ends the connection however stale the view is.
      const revoked = check === 'revoked' || (check === 'unavailable' && view.wouldRevoke(token));
      if (revoked || (sessionEndsAt !== undefined && at >= sessionEndsAt)) {
        connection.close(LiveClose.REVOKED);
        continue;
      }
      if (check === 'unavailable') {
        if (closeUnavailable) connection.close(LiveClose.UNAVAILABLE);
        continue;
      }
      const viewer = connection.viewer;
      if (viewer.kind !== 'user') continue;
      const roles = view.currentRoles(token);
      if (roles.length === viewer.roles.length) continue;
      const narrowed: SignedInViewer = { ...viewer, roles };
      connection.viewer = narrowed;
      for (const [id, operation] of connection.operations) {
        if (!operation.stillAllowed(narrowed)) {
          logger.info({ operation: id }, 'live operation ended: a role it needs was removed');
          // The operation sends its own FORBIDDEN event; see LiveOperation.stillAllowed.
        }
      }
    }
  }

  return {
    claimAddress(address: string): boolean {
      const count = byAddress.get(address) ?? 0;
      if (count >= options.connectionsPerAddress) return false;
      byAddress.set(address, count + 1);
      return true;
    },
    releaseAddress(address: string): void {
      const count = (byAddress.get(address) ?? 1) - 1;
      if (count <= 0) byAddress.delete(address);
      else byAddress.set(address, count);
    },
    add(connection: LiveConnection): boolean {
      const sessionId = connection.identity.token?.sessionId;
      if (sessionId !== undefined) {
        const held = bySession.get(sessionId);
        if (held && held.size >= options.connectionsPerSession) return false;
        if (held) held.add(connection);
        else bySession.set(sessionId, new Set([connection]));
      }
      all.add(connection);
      return true;
    },
    remove(connection: LiveConnection): void {
      if (!all.delete(connection)) return;
      const sessionId = connection.identity.token?.sessionId;
      if (sessionId !== undefined) {
        const held = bySession.get(sessionId);
        held?.delete(connection);
        if (held?.size === 0) bySession.delete(sessionId);
      }
    },
    sweep,
    stop(): void {
      clearInterval(timer);
      for (const connection of [...all]) connection.close(LiveClose.RESTART);
    },
    counts(): { connections: number; operations: number } {
      let operations = 0;
      for (const connection of all) operations += connection.operations.size;
      return { connections: all.size, operations };
    },
  };
}
