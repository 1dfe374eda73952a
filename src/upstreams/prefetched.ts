import type { ExecutionResult } from '@graphql-tools/utils';

/**
 * An upstream answer the pass-through already fetched but cannot send as it came (it carries errors to format,
 * or is not certainly clean JSON): the general path formats it instead of calling the upstream a second time,
 * which for a mutation would run it twice.
 */
export interface PrefetchedAnswer {
  /**
   * The upstream the answer is from, or GATEWAY_SOURCE for a query of the gateway's own fields run by the
   * pass-through (its result, errors and all). It rides on this one request's context (so it is for the same query text,
   * operation name and viewer), and is used only where the general path would send that whole operation there.
   */
  readonly upstream: string;
  readonly result: ExecutionResult;
}

/** A symbol, so that no client value can name it; Apollo copies the request's context with Object.assign, which keeps it. */
const PREFETCHED = Symbol('portcullis.prefetchedUpstreamAnswer');

export function withPrefetched<T extends object>(context: T, answer: PrefetchedAnswer): T {
  return Object.assign(Object.create(Object.getPrototypeOf(context) as object | null) as T, context, { [PREFETCHED]: answer });
}

export function prefetchedOf(context: object): PrefetchedAnswer | undefined {
  return (context as { [PREFETCHED]?: PrefetchedAnswer })[PREFETCHED];
}
