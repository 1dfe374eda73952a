import { main } from './user-command.js';

main({
  name: 'user:disable',
  summary: 'Disables an account: it cannot sign in or refresh, and its sessions and access tokens end on every gateway within a second.',
  takesRoles: 'no-roles',
  run: (auth, actor, user) => auth.disableUser(actor, user.id),
});
