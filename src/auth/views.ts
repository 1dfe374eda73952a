import type { SessionRecord } from '../stores/sessions.store.js';
import type { UserRecord } from '../stores/users.store.js';

/**
 * What the auth layer shows of an account to the layers above it. The GraphQL types map from these, never from
 * store records, so a field added to a stored document (a hash, a generation counter) reaches no client unless
 * it is added here on purpose.
 */
export type AccountView = Pick<UserRecord, 'id' | 'email' | 'roles' | 'disabled' | 'createdAt'>;

/** What the auth layer shows of a session to the layers above it. */
export type SessionView = Pick<SessionRecord, 'id' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'userAgent' | 'clientAddress' | 'amr' | 'authTime'>;
