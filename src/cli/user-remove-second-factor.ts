import { main } from './user-command.js';

main({
  name: 'user:remove-second-factor',
  summary:
    'Removes an account\'s authenticator app (TOTP) and recovery codes, for someone who lost both: check who asks by other means first. The account then signs in with its password alone; its passkeys stay.',
  takesRoles: 'no-roles',
  run: (auth, actor, user) => auth.removeSecondFactor(actor, user.id),
});
