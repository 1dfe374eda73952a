import { buildHTTPExecutor } from '@graphql-tools/executor-http';
import type { ExecutionRequest, ExecutionResult, Executor } from '@graphql-tools/utils';
import { GraphQLError, print, type DocumentNode } from 'graphql';

/** Why an upstream call produced no GraphQL answer. Logged with the upstream's name; clients see UPSTREAM_UNAVAILABLE. */
export type FailureKind = 'unreachable' | 'timeout' | 'http-status' | 'not-graphql';

/** The original error behind an upstream failure; carries no request or response content. */
export class UpstreamFailure extends Error {
  readonly upstream: string;
  readonly kind: FailureKind;

  constructor(upstream: string, kind: FailureKind, detail: string) {
    super(`upstream ${upstream}: ${kind} (${detail})`);
    this.name = 'UpstreamFailure';
    this.upstream = upstream;
    this.kind = kind;
  }
}

/** An error the upstream itself reported in its GraphQL answer. Its message reaches clients only if allowed. */
export class UpstreamError extends Error {
  readonly upstream: string;
  readonly code: string | undefined;

  constructor(upstream: string, message: string, code: string | undefined) {
    super(message);
    this.name = 'UpstreamError';
    this.upstream = upstream;
    this.code = code;
  }
}

/** What the gateway passes to every upstream call: the headers for that upstream, identity included. */
export interface UpstreamCallContext {
  readonly upstreamHeaders: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

export interface UpstreamExecutorOptions {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
}

/** Printed operations by document: decisions are cached, so the same pruned document is printed once. */
const printed = new WeakMap<DocumentNode, string>();
export function printCached(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

const GRAPHQL_CONTENT_TYPE = /^application\/(graphql-response\+)?json\b/i;

/**
 * An executor for one upstream over HTTP (graphql-tools' executor-http: timeout, per-request headers). Node's
 * fetch keeps connections alive. Every failure that is not a GraphQL answer (refused, timed out, 5xx, HTML …)
 * becomes one error whose original is an UpstreamFailure; every error in a GraphQL answer gets an UpstreamError as
 * its original, so the formatter can tell the two apart from the gateway's own errors.
 *
 * The request body holds only query, variables and operationName: the gateway builds the ExecutionRequest
 * itself, never from the client's, so client `extensions` (executor-http would even read headers from them)
 * cannot reach an upstream.
 */
export function createUpstreamExecutor(options: UpstreamExecutorOptions): Executor {
  const { name, url, timeoutMs } = options;
  const http = buildHTTPExecutor({
    endpoint: url,
    // No `timeout` here: executor-http would combine its timeout with a signal shared by every call, adding a
    // listener to it per call until the call's signal is garbage-collected. The fetch below times out on its own.
    print: printCached,
    // Deduplication would clone every answer and key on per-user headers anyway.
    deduplicateInflightRequests: false,
    headers: (request?: ExecutionRequest) => {
      const context = request?.context as Partial<UpstreamCallContext> | undefined;
      return { ...context?.upstreamHeaders?.get(name) };
    },
    fetch: async (input: string, init?: RequestInit): Promise<Response> => {
      let response: Response;
      // Covers the whole call, body included: executor-http reads the body with this same request's stream.
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        response = await fetch(input, { ...init, signal });
      } catch (error) {
        const aborted = signal.aborted || (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
        throw new UpstreamFailure(name, aborted ? 'timeout' : 'unreachable', aborted ? `no answer within ${timeoutMs} ms` : String((error as Error).cause ?? (error as Error).message));
      }
      if (response.status >= 500) {
        await response.body?.cancel();
        throw new UpstreamFailure(name, 'http-status', `HTTP ${response.status}`);
      }
      if (!GRAPHQL_CONTENT_TYPE.test(response.headers.get('content-type') ?? '')) {
        await response.body?.cancel();
        throw new UpstreamFailure(name, 'not-graphql', `HTTP ${response.status}, content-type ${response.headers.get('content-type') ?? 'none'}`);
      }
      return response;
    },
  });
  return async (request: ExecutionRequest): Promise<ExecutionResult> => {
    const result = (await http({
      document: request.document,
      ...(request.variables !== undefined && { variables: request.variables }),
      ...(request.operationName !== undefined && { operationName: request.operationName }),
      ...(request.operationType !== undefined && { operationType: request.operationType }),
      context: request.context,
      ...(request.info !== undefined && { info: request.info }),
    })) as ExecutionResult;
    return classify(name, result);
  };
}

const TRANSPORT_CODES: ReadonlySet<unknown> = new Set(['SUBREQUEST_HTTP_ERROR', 'RESPONSE_VALIDATION_FAILED']);

function classify(name: string, result: ExecutionResult): ExecutionResult {
  if (!result.errors?.length) return result;
  const failure = result.errors.find((error) => failureOf(error) !== undefined);
  // executor-http reports a body it could not read or parse (cut off, timed out mid-body, not JSON) as an error
  // with one of its own codes and no data.
  const transport = result.data == null && result.errors.find((error) => TRANSPORT_CODES.has(error.extensions?.['code']));
  if (failure || transport) {
    const original = (failure && failureOf(failure)) ?? new UpstreamFailure(name, 'not-graphql', `the answer could not be read (${transport ? String(transport.extensions['code']) : 'no code'})`);
    return { errors: [new GraphQLError(original.message, { originalError: original })] };
  }
  return {
    ...result,
    errors: result.errors.map((error) => {
      const code = error.extensions?.['code'];
      return new GraphQLError(error.message, {
        ...(error.path && { path: error.path }),
        extensions: typeof code === 'string' ? { code } : {},
        originalError: new UpstreamError(name, error.message, typeof code === 'string' ? code : undefined),
      });
    }),
  };
}

function failureOf(error: GraphQLError): UpstreamFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof UpstreamFailure) return current;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The UpstreamFailure behind an error, if any. */
export function upstreamFailureOf(error: unknown): UpstreamFailure | undefined {
  return error instanceof GraphQLError ? failureOf(error) : error instanceof UpstreamFailure ? error : undefined;
}
