import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DevSecrets {
  readonly jwtSecret: string;
  readonly refreshTokenHashSecret: string;
}

const FILE_NAME = 'dev-secrets.json';

/**
 * Development only: secrets generated once and kept under the data directory, so that sessions and users
 * survive a restart without anybody having to configure keys. Production refuses this path in config.
 */
export function loadOrCreateDevSecrets(dataDir: string): { secrets: DevSecrets; path: string; created: boolean } {
  const path = join(dataDir, FILE_NAME);
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<DevSecrets>;
    if (typeof parsed.jwtSecret === 'string' && typeof parsed.refreshTokenHashSecret === 'string') {
      return { secrets: { jwtSecret: parsed.jwtSecret, refreshTokenHashSecret: parsed.refreshTokenHashSecret }, path, created: false };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
  }
  const secrets: DevSecrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    refreshTokenHashSecret: randomBytes(32).toString('base64url'),
  };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return { secrets, path, created: true };
}
