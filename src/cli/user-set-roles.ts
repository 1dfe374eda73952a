import { main } from './user-command.js';

main({
  name: 'user:set-roles',
  summary: "Replaces an account's roles. Its live access tokens lose any removed role on every gateway within a second.",
  takesRoles: 'roles',
  run: (auth, actor, user, roles) => auth.setUserRoles(actor, user.id, roles),
});
