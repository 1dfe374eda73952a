import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.js';
import { printableIdentityKey } from '../tokens/identity-key.js';

const USAGE = `Usage: npm run --silent identity:key -- --upstream NAME

Prints the HS256 identity key of one upstream (JWT_ALGORITHM=HS256): the key it passes to
verifyIdentity(request, { gateway: { secret: <key> }, audience: NAME }). It is derived from JWT_SECRET and NAME,
verifies only that upstream's identity tokens, and signs nothing the gateway accepts. Give each upstream its own,
never JWT_SECRET. Reads the gateway's configuration from the environment, as the gateway does.

  --upstream NAME   the upstream's name in UPSTREAMS
`;

/**
 * npm run identity:key -- --upstream shop — prints that upstream's identity key (base64url, one line) on stdout
 * and nothing else, so `$(npm run --silent identity:key -- --upstream shop)` can feed a secret store.
 * Exit codes: 0 printed, 1 invalid configuration, 2 usage error (unknown upstream, not HS256).
 */
async function main(argv: readonly string[]): Promise<number> {
  let values: { upstream?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { upstream: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.upstream === undefined || values.upstream === '') {
    console.error(`--upstream is required.\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig(process.env);
  if (config.tokens.algorithm !== 'HS256' || !config.tokens.jwtSecret) {
    console.error(
      `JWT_ALGORITHM is ${config.tokens.algorithm}: identity tokens are signed with the gateway's key pairs, and upstreams verify them with its public keys (pass the gateway's URL to verifyIdentity). There is no identity key to print.`,
    );
    return 2;
  }
  const names = config.upstreams.list.map((upstream) => upstream.name);
  const name = values.upstream;
  if (!names.includes(name)) {
    console.error(
      names.length === 0
        ? `Unknown upstream ${JSON.stringify(name)}: UPSTREAMS is not set here. Run this with the gateway's configuration.`
        : `Unknown upstream ${JSON.stringify(name)}: UPSTREAMS names ${names.join(', ')}.`,
    );
    return 2;
  }
  if (config.secretsSource === 'generated') {
    console.error('Note: JWT_SECRET is the generated development secret; this key changes with it and is for development only.');
  }
  process.stdout.write(`${await printableIdentityKey(config.tokens.jwtSecret, name)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : `identity:key failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
