import { BUILT_IN_ROLES } from '../config/config.js';

/**
 * The roles the gateway's own fields use. The full set is configured (ROLES, always including these two), so a
 * role is any name from that set: `@authorized(roles: [...])` names them; the user CLI accepts them in any case.
 */
export const Role = {
  USER: 'USER',
  ADMIN: 'ADMIN',
} as const;
export type Role = string;

/** The built-in roles; the configured set is `config.roles`. */
export const ROLES: readonly Role[] = BUILT_IN_ROLES;

/** The role `text` names (any case) if it is one of `known`. */
export function parseRole(text: string, known: readonly Role[] = ROLES): Role | undefined {
  const upper = text.trim().toUpperCase();
  return known.find((role) => role === upper);
}
