/** The roles the gateway knows. `@authorized(roles: [...])` names these; the user CLI accepts them in any case. */
export const Role = {
  USER: 'USER',
  ADMIN: 'ADMIN',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const ROLES: readonly Role[] = Object.values(Role);

export function parseRole(text: string): Role | undefined {
  const upper = text.trim().toUpperCase();
  return ROLES.find((role) => role === upper);
}
