import { main } from './user-command.js';

main({
  name: 'user:enable',
  summary: 'Lets a disabled account sign in again. Its old sessions stay ended.',
  takesRoles: 'no-roles',
  run: (auth, actor, user) => auth.enableUser(actor, user.id),
});
