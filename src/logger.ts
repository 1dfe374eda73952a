import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/config.js';

export type { Logger };

/**
 * Structured JSON logs. Anything that can carry a credential is redacted by path as a second line of defence:
 * the code never logs tokens, cookies or passwords on purpose, and these paths catch the accident.
 */
export function createLogger(level: LogLevel, options: { destination?: 'stdout' | 'stderr' } = {}): Logger {
  // Synchronous writes: a process that exits right after logging (a refused start, the CLI) loses nothing.
  const destination = pino.destination({ dest: options.destination === 'stderr' ? 2 : 1, sync: true });
  return pino({
    level,
    base: { service: 'portcullis' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        'headers.authorization',
        'headers.cookie',
        '*.password',
        '*.token',
        '*.accessToken',
        '*.refreshToken',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  }, destination);
}
