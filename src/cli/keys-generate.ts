import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const NAMES = ['JWT_SECRET', 'REFRESH_TOKEN_HASH_SECRET'] as const;

/**
 * npm run keys:generate — prints fresh secrets in the form config reads (NAME=value lines, 256 random bits,
 * base64url), for an env file or a secret store. Key pairs for EdDSA/ES256/RS256/PS256 need no configuration:
 * the gateway creates and rotates them in the database (npm run keys:rotate).
 *
 *   npm run keys:generate                       both secrets
 *   npm run keys:generate -- --name JWT_SECRET  one
 */
function main(argv: readonly string[]): number {
  const { values } = parseArgs({ args: [...argv], options: { name: { type: 'string', multiple: true } }, strict: true });
  const wanted = values.name ?? [...NAMES];
  for (const name of wanted) {
    if (!(NAMES as readonly string[]).includes(name)) {
      console.error(`Unknown secret "${name}": use ${NAMES.join(' or ')}.`);
      return 2;
    }
    console.log(`${name}=${randomBytes(32).toString('base64url')}`);
  }
  return 0;
}

process.exit(main(process.argv.slice(2)));
