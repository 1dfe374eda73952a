import type { AuthService, SignedInViewer } from '../auth/auth-service.js';
import type { SessionView } from '../auth/views.js';
import { SessionEventKind, type SessionEventView } from '../graphql/types/session-event.type.js';
import type { Logger } from '../logger.js';
import { eventQueue, type EventQueue } from './event-queue.js';

export interface SessionEventFeed {
  subscribe(viewer: SignedInViewer): AsyncIterable<SessionEventView>;
  stop(): void;
}

interface Watched {
  viewer: SignedInViewer;
  /** The user's live sessions at the last look; undefined until the first. */
  known: Map<string, SessionView> | undefined;
  readonly subscribers: Set<EventQueue<SessionEventView>>;
}

/**
 * The feed behind mySessionEvents. One timer per instance, not per subscriber: every `pollMs` (1 s) it lists the live
 * sessions of each user somebody here is watching (one query per watched user, whatever their number of
 * subscriptions) and reports the difference: a new session is CREATED, one gone (logout, revocation, expiry,
 * account disabled) is ENDED. Every instance does the same from the same database, so an event on instance A is
 * seen by subscribers on instance B.
 */
export function createSessionEventFeed(options: { auth: AuthService; logger: Logger; now: () => number; pollMs?: number }): SessionEventFeed {
  const { auth, logger, now } = options;
  const watched = new Map<string, Watched>();
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void poll().finally(() => {
      running = false;
    });
  }, options.pollMs ?? 1000);
  timer.unref();

  async function poll(): Promise<void> {
    for (const [userId, entry] of watched) {
      let sessions: SessionView[];
      try {
        sessions = await auth.listSessions(entry.viewer);
      } catch (error) {
        logger.warn({ err: error, userId }, 'session events: cannot list sessions; retrying');
        continue;
      }
      const current = new Map(sessions.map((session) => [session.id, session]));
      const before = entry.known;
      entry.known = current;
      if (!before) continue;
      const events: SessionEventView[] = [];
      for (const [id, session] of current) if (!before.has(id)) events.push(view(SessionEventKind.CREATED, session, session.createdAt));
      for (const [id, session] of before) if (!current.has(id)) events.push(view(SessionEventKind.ENDED, session, new Date(now())));
      for (const event of events) for (const subscriber of entry.subscribers) subscriber.push(event);
    }
  }

  return {
    subscribe(viewer: SignedInViewer): AsyncIterable<SessionEventView> {
      let entry = watched.get(viewer.userId);
      if (!entry) {
        entry = { viewer, known: undefined, subscribers: new Set() };
        watched.set(viewer.userId, entry);
        const first = entry;
        // The first look is the baseline: sessions that exist now are not news.
        void auth.listSessions(viewer).then(
          (sessions) => {
            first.known ??= new Map(sessions.map((session) => [session.id, session]));
          },
          () => undefined,
        );
      }
      const owner = entry;
      const queue = eventQueue<SessionEventView>(() => {
        owner.subscribers.delete(queue);
        if (owner.subscribers.size === 0) watched.delete(viewer.userId);
      });
      owner.subscribers.add(queue);
      return queue;
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}

function view(kind: SessionEventKind, session: SessionView, at: Date): SessionEventView {
  return { kind, sessionId: session.id, at, userAgent: session.userAgent, clientAddress: session.clientAddress };
}
