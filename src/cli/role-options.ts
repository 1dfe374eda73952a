import { parseRole, type Role } from '../auth/roles.js';

/**
 * The `--role` values of a user CLI, each one of the configured roles (any case), without repeats. Undefined,
 * after saying which value is unknown on stderr, when one is not a role: the caller exits 2 (usage error).
 */
export function readRoleOptions(texts: readonly string[], known: readonly Role[]): Role[] | undefined {
  const roles: Role[] = [];
  for (const text of texts) {
    const role = parseRole(text, known);
    if (!role) {
      console.error(`Unknown role "${text}": use ${known.join(', ')} (or add it to ROLES).`);
      return undefined;
    }
    if (!roles.includes(role)) roles.push(role);
  }
  return roles;
}
