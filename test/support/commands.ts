import type { mongo } from 'mongoose';
import { REVOCATION_VIEW_COMMENT } from '../../src/stores/revocations.store.js';

/** The revocation view's reads (its polls and full loads): they run on a timer, whatever the requests do. */
export function isRevocationViewRead(event: { commandName: string; command: Record<string, unknown> }): boolean {
  return event.commandName === 'find' && event.command['comment'] === REVOCATION_VIEW_COMMENT;
}

/**
 * The expiry sweeper (servers without TTL indexes) deletes on a timer, whatever the requests do: tests that count
 * a request's database commands leave its deletes out.
 */
export function isExpirySweep(command: Record<string, unknown>): boolean {
  const deletes = command['deletes'];
  if (!Array.isArray(deletes) || deletes.length !== 1) return false;
  const query = (deletes[0] as { q?: Record<string, unknown> }).q ?? {};
  const keys = Object.keys(query);
  return keys.length === 1 && typeof query[keys[0] ?? ''] === 'object' && '$lte' in (query[keys[0] ?? ''] as object);
}

/**
 * What `describe` makes of each command `action` sends (undefined: not recorded), in the order sent. The expiry
 * sweeper's deletes are left out: they run on a timer, whatever the action does.
 */
export async function commandsDuring(
  client: mongo.MongoClient,
  action: () => Promise<unknown>,
  describe: (event: mongo.CommandStartedEvent) => string | undefined,
): Promise<string[]> {
  const seen: string[] = [];
  const listener = (event: mongo.CommandStartedEvent): void => {
    if (isExpirySweep(event.command)) return;
    const described = describe(event);
    if (described !== undefined) seen.push(described);
  };
  client.on('commandStarted', listener);
  try {
    await action();
  } finally {
    client.off('commandStarted', listener);
  }
  return seen;
}
