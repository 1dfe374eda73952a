import { Ctx, Resolver, Root, Subscription } from 'type-graphql';
import { ErrorCode, GatewayError } from '../../errors.js';
import { Authorized, requireViewer } from '../authorized.js';
import type { GatewayContext } from '../context.js';
import { SessionEvent, type SessionEventView } from '../types/session-event.type.js';

/** Live events about the signed-in user's own sessions: the "new sign-in on your account" alert. */
@Resolver()
export class SessionEventsResolver {
  @Authorized()
  @Subscription(() => SessionEvent, {
    description: 'My sessions being created or ending, as they happen. Over WebSocket (/graphql) or SSE (/graphql/stream).',
    subscribe: ({ context }: { context: GatewayContext }): AsyncIterable<SessionEventView> => {
      // The subscribe step runs before any resolver: the @authorized check must happen here too.
      const viewer = requireViewer(context.viewer, []);
      if (!context.sessionEvents) throw new GatewayError(ErrorCode.BAD_REQUEST, { detail: 'Subscriptions are served over WebSocket at /graphql and SSE at /graphql/stream.' });
      return context.sessionEvents(viewer);
    },
  })
  mySessionEvents(@Root() event: SessionEventView, @Ctx() context: GatewayContext): SessionEvent {
    requireViewer(context.viewer, []);
    return SessionEvent.from(event);
  }
}
