import type { ExecutionRequest, ExecutionResult, Executor } from '@graphql-tools/utils';
import { GraphQLError, print, type DocumentNode } from 'graphql';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Why an upstream call produced no GraphQL answer. Logged with the upstream's name; clients see UPSTREAM_UNAVAILABLE. */
export type FailureKind = 'unreachable' | 'timeout' | 'http-status' | 'not-graphql' | 'too-large';

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
  /** UPSTREAM_DEDUPLICATE: identical queries in flight at once share one exchange (RawSendOptions.share). */
  readonly deduplicate?: boolean;
}

export interface UpstreamExecutorOptions {
  readonly name: string;
  readonly url: string;
  readonly timeoutMs: number;
  /** UPSTREAM_MAX_RESPONSE_BYTES: a longer answer is cut off and fails as `too-large` (default 8 MiB). */
  readonly maxResponseBytes?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

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
const ACCEPT = 'application/graphql-response+json, application/json';

/**
 * An executor for one upstream over HTTP: a POST of query, variables and operationName on a keep-alive
 * connection, answered with the parsed body. Every failure that is not a GraphQL answer (refused, timed out, 5xx,
 * HTML, a cut-off or unparsable body …) becomes one error whose original is an UpstreamFailure; every error in a
 * GraphQL answer gets an UpstreamError as its original, so the formatter can tell the two apart from the
 * gateway's own errors.
 *
 * Written on node:http rather than graphql-tools' executor-http over fetch: measured under the bench's figure 7,
 * executor-http and undici's fetch (Request/Response objects, web streams for a string body, a body tee, an
 * AbortSignal per call, the request head and body in two writes) were about half of the gateway's CPU per
 * request on the fast path (1,050 µs per request with them, about 510 µs without); this path does one write per
 * request and parses the body once. What executor-http did
 * that is kept: per-upstream headers from the call's context, the timeout over the whole call (body included),
 * and the same classification of answers (docs/performance.md, "Gateway").
 *
 * The request body holds only query, variables and operationName: the gateway builds the ExecutionRequest
 * itself, never from the client's, so client `extensions` cannot reach an upstream.
 *
 * Underneath is one exchange that answers the body as text (`exchange`; the pass-through reaches it through
 * rawSenderOf to send the upstream's bytes on unparsed). With UPSTREAM_DEDUPLICATE, a query whose body and
 * headers equal those of an exchange in flight joins it instead of making another.
 */
export function createUpstreamExecutor(options: UpstreamExecutorOptions): Executor {
  const { name, timeoutMs } = options;
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  // Keep-alive: one connection per concurrent call, reused. Node closes an idle one before the server's
  // advertised Keep-Alive timeout, so a reused connection is rarely one the server is closing.
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  // An IPv6 literal keeps its brackets in URL.hostname; node:http wants the bare address.
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const target = { protocol: url.protocol, hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'POST', agent };
  const timeoutDetail = `no answer within ${timeoutMs} ms`;
  // A compromised or broken upstream could otherwise stream until the timeout, and a body past V8's string
  // limit throws a RangeError that ends the process. The detail names the cap, never any of the body.
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const tooLargeDetail = `the answer is longer than UPSTREAM_MAX_RESPONSE_BYTES (${maxBytes} bytes)`;
  /** Exchanges in flight that others may join, by everything that goes on the wire (see RawSendOptions.share). */
  const inFlight = new Map<string, Promise<RawAnswer>>();

  /** One POST and its whole body as text, or why there is none. Never rejects. */
  const exchange = (body: string, callHeaders: Readonly<Record<string, string>> | undefined): Promise<RawAnswer> => {
    const headers: Record<string, string | number> = {
      ...callHeaders,
      accept: ACCEPT,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    return new Promise<RawAnswer>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = (kind: FailureKind, detail: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ kind: 'failure', failure: new UpstreamFailure(name, kind, detail) });
      };
      let outgoing: ClientRequest;
      try {
        outgoing = send({ ...target, headers });
      } catch (error) {
        fail('unreachable', (error as Error).message);
        return;
      }
      // Covers the whole call, body included: a stalled body times out like a silent server.
      timer = setTimeout(() => {
        fail('timeout', timeoutDetail);
        outgoing.destroy();
      }, timeoutMs);
      outgoing.on('error', (error: Error) => fail('unreachable', String((error as NodeJS.ErrnoException).code ?? error.message)));
      outgoing.on('response', (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const contentType = response.headers['content-type'] ?? '';
        // A redirect is not followed (fetch did): the identity token would go wherever the upstream points.
        const redirect = status >= 300 && status < 400;
        if (status >= 500 || redirect || !GRAPHQL_CONTENT_TYPE.test(contentType)) {
          // The connection is not worth draining for an answer that is thrown away.
          response.destroy();
          if (status >= 500) fail('http-status', `HTTP ${status}`);
          else fail('not-graphql', `HTTP ${status}, content-type ${contentType || 'none'}${redirect ? ', a redirect (not followed)' : ''}`);
          return;
        }
        if (Number(response.headers['content-length']) > maxBytes) {
          response.destroy();
          fail('too-large', tooLargeDetail);
          return;
        }
        // Bytes are counted as they arrive (a chunked answer announces no length); past the cap the socket goes.
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxBytes) {
            chunks.length = 0;
            response.destroy();
            fail('too-large', tooLargeDetail);
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', () => fail('not-graphql', 'the answer could not be read (cut off)'));
        response.on('end', () => {
          if (settled) return;
          if (!response.complete) {
            fail('not-graphql', 'the answer could not be read (cut off)');
            return;
          }
          const text = Buffer.concat(chunks, received).toString('utf8');
          settled = true;
          clearTimeout(timer);
          resolve({ kind: 'text', text, status });
        });
        response.on('close', () => {
          if (!response.complete) fail('not-graphql', 'the answer could not be read (cut off)');
        });
      });
      outgoing.end(body);
    });
  };

  const sendRaw = (request: RawSendOptions): Promise<RawAnswer> => {
    if (!request.share) return exchange(request.body, request.headers);
    const key = `${JSON.stringify(request.headers ?? {})}\u0000${request.body}`;
    const joined = inFlight.get(key);
    if (joined) return joined;
    const started = exchange(request.body, request.headers).finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };

  const call = async (request: ExecutionRequest): Promise<ExecutionResult> => {
    const body = JSON.stringify({
      query: printCached(request.document),
      ...(request.variables !== undefined && { variables: request.variables }),
      ...(request.operationName !== undefined && { operationName: request.operationName }),
    });
    const context = request.context as Partial<UpstreamCallContext> | undefined;
    const share = context?.deduplicate === true && request.operationType === 'query';
    return resultOfAnswer(name, await sendRaw({ body, headers: context?.upstreamHeaders?.get(name), share }));
  };
  rawSenders.set(call, sendRaw);
  return call;
}

/** What one exchange with an upstream gave: its body as text (status below 500, a JSON content type), or a failure. */
export type RawAnswer = { readonly kind: 'text'; readonly text: string; readonly status: number } | { readonly kind: 'failure'; readonly failure: UpstreamFailure };

export interface RawSendOptions {
  /** The request body, already JSON: query, variables and operationName only. */
  readonly body: string;
  readonly headers: Readonly<Record<string, string>> | undefined;
  /**
   * Join an identical exchange already in flight instead of making another: identical means the same body and
   * the same headers (so the same identity token, or none), to the same upstream. Only for queries.
   */
  readonly share: boolean;
}

export type RawSender = (request: RawSendOptions) => Promise<RawAnswer>;

const rawSenders = new WeakMap<Executor, RawSender>();

/** The byte-level sender behind an executor made here (the pass-through path's way to the same connections). */
export function rawSenderOf(executor: Executor): RawSender | undefined {
  return rawSenders.get(executor);
}

/** A raw answer as the ExecutionResult the executor gives: parsed once, classified as before. */
export function resultOfAnswer(name: string, answer: RawAnswer): ExecutionResult {
  if (answer.kind === 'failure') return failureResult(answer.failure);
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    return failureResult(new UpstreamFailure(name, 'not-graphql', `the answer could not be read (not JSON, HTTP ${answer.status})`));
  }
  return graphqlResultOf(name, parsed) ?? failureResult(new UpstreamFailure(name, 'not-graphql', `the answer could not be read (no data and no errors, HTTP ${answer.status})`));
}

function failureResult(failure: UpstreamFailure): ExecutionResult {
  return { errors: [new GraphQLError(failure.message, { originalError: failure })] };
}

/**
 * The upstream's answer as an ExecutionResult, or undefined when it is not one (neither data nor errors, or
 * errors that are not a list). Data is passed on as parsed, never walked; only errors are re-made.
 */
function graphqlResultOf(name: string, parsed: unknown): ExecutionResult | undefined {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { data, errors, extensions } = parsed as { data?: unknown; errors?: unknown; extensions?: unknown };
  if (errors !== undefined && errors !== null && !Array.isArray(errors)) return undefined;
  const list = (errors ?? []) as unknown[];
  if (data == null && list.length === 0) return undefined;
  if (data !== undefined && data !== null && typeof data !== 'object') return undefined;
  const result: ExecutionResult = { data: (data ?? null) as Record<string, unknown> | null };
  if (list.length > 0) result.errors = list.map((error) => upstreamErrorOf(name, error));
  if (typeof extensions === 'object' && extensions !== null) result.extensions = extensions as Record<string, unknown>;
  return result;
}

function upstreamErrorOf(name: string, error: unknown): GraphQLError {
  const { message, path, extensions } = (typeof error === 'object' && error !== null ? error : {}) as { message?: unknown; path?: unknown; extensions?: unknown };
  const text = typeof message === 'string' ? message : 'Upstream error';
  const code = typeof extensions === 'object' && extensions !== null ? (extensions as { code?: unknown }).code : undefined;
  const validPath = Array.isArray(path) && path.every((key) => typeof key === 'string' || typeof key === 'number') ? (path as Array<string | number>) : undefined;
  return new GraphQLError(text, {
    ...(validPath && { path: validPath }),
    extensions: typeof code === 'string' ? { code } : {},
    originalError: new UpstreamError(name, text, typeof code === 'string' ? code : undefined),
  });
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
