import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/config.js';

export type { Logger };

/**
 * Structured JSON logs. Anything that can carry a credential is redacted by path as a second line of defence:
 * the code never logs tokens, cookies or passwords on purpose, and these paths catch the accident.
 */
export function createLogger(level: LogLevel, options: { destination?: 'stdout' | 'stderr'; stream?: DestinationStream } = {}): Logger {
  // Synchronous writes: a process that exits right after logging (a refused start, the CLI) loses nothing.
  // `stream` lets tests read exactly what would be written, redaction included.
  const destination = options.stream ?? pino.destination({ dest: options.destination === 'stderr' ? 2 : 1, sync: true });
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
