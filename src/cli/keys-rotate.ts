import 'reflect-metadata';
import { createServices } from '../app.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { createLogger } from '../logger.js';

/**
 * npm run keys:rotate — schedules the next signing key (asymmetric JWT_ALGORITHM only). The new key is published
 * in the JWKS now and signs after KEY_ROTATION_LEAD_SECONDS; the current key retires once its last token has
 * expired. Every gateway instance picks the schedule up from the database within 30 s. Prints the plan as JSON.
 */
async function main(): Promise<number> {
  const config = loadConfig(process.env);
  if (config.tokens.algorithm === 'HS256') {
    console.error(
      'Rotation applies to key pairs (JWT_ALGORITHM=EdDSA, ES256, RS256 or PS256). With HS256, changing JWT_SECRET ends every access token at once; generate a value with npm run keys:generate.',
    );
    return 2;
  }
  const logger = createLogger('error', { destination: 'stderr' });
  const services = await createServices(config, logger);
  try {
    const plan = await services.keyManager?.rotate();
    console.log(JSON.stringify(plan, null, 2));
    return 0;
  } finally {
    await services.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : `keys:rotate failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
