import { availableParallelism } from 'node:os';

/** The variables this module reads; config.ts lists them with its own in CONFIG_VARIABLES. */
export const WORKERS_VARIABLES: readonly string[] = Object.freeze(['WORKERS']);

/** Far above any core count a gateway host has; a typo such as 1000 should be refused, not fork a thousand. */
const MAX_WORKERS = 256;
const HINT = `use auto (one per available core) or a whole number from 1 to ${MAX_WORKERS}`;

/**
 * WORKERS: how many gateway processes serve the one port (node:cluster). `auto` is the cores this process may
 * use (os.availableParallelism(), which honours CPU affinity); unset or blank is 1, a single process with no
 * supervisor at all. Problems go to the shared list, like every other variable's.
 */
export function readWorkers(env: Readonly<Record<string, string | undefined>>, problems: string[]): number {
  const text = env['WORKERS']?.trim() ?? '';
  if (text === '') return 1;
  if (text.toLowerCase() === 'auto') return availableParallelism();
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(value) || value < 1 || value > MAX_WORKERS) {
    problems.push(`WORKERS: not a worker count (${HINT})`);
    return 1;
  }
  return value;
}
