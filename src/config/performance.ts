import { z } from 'zod';

/** How the gateway saves work on the way to its upstreams; read with the rest of the one frozen Config. */
export interface PerformanceConfig {
  /** UPSTREAM_DEDUPLICATE: identical queries in flight at once, with the same identity, share one upstream call. */
  readonly deduplicate: boolean;
}

/** The variables of this part, merged into config.ts's one schema (so they are validated, listed and documented alike). */
export const performanceVariables = {
  UPSTREAM_DEDUPLICATE: z
    .enum(['true', 'false', '1', '0'])
    .transform((value) => value === 'true' || value === '1')
    .default(true),
};

export const performanceHints: Readonly<Record<keyof typeof performanceVariables, string>> = {
  UPSTREAM_DEDUPLICATE: 'use true or false',
};

export function readPerformance(valid: { readonly UPSTREAM_DEDUPLICATE: boolean }): PerformanceConfig {
  return { deduplicate: valid.UPSTREAM_DEDUPLICATE };
}
