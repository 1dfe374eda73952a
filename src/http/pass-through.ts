import type { IncomingHttpHeaders } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import type { GatewayContext } from '../graphql/context.js';
import type { Composition } from '../upstreams/compose.js';
import type { PassThrough, PassThroughOutcome } from '../upstreams/pass-through.js';
import { withPrefetched } from '../upstreams/prefetched.js';

/** Contexts the pass-through built for requests it hands to Apollo: one authentication per request, not two. */
const handedOver = new WeakMap<Request, GatewayContext>();

/** The context the pass-through already made for this request, if it made one (taken once). */
export function takeHandedOverContext(req: Request): GatewayContext | undefined {
  const context = handedOver.get(req);
  if (context) handedOver.delete(req);
  return context;
}

const APPLICATION_JSON = 'application/json; charset=utf-8';
/**
 * The Accept values whose answer type is certain without Apollo's negotiation (ApolloServer.ts,
 * chooseContentTypeForSingleResultResponse); any other goes to Apollo, which negotiates it.
 */
const ANSWER_TYPES: ReadonlyMap<string, string> = new Map([
  ['', APPLICATION_JSON],
  ['*/*', APPLICATION_JSON],
  ['application/json', APPLICATION_JSON],
  ['application/graphql-response+json', 'application/graphql-response+json; charset=utf-8'],
]);

export interface PassThroughRoute {
  readonly run: PassThrough;
  /** The composition in force now (the one Apollo validates against). */
  readonly composition: () => Composition;
  /** The same context Apollo's middleware builds for /graphql. */
  readonly contextOf: (req: Request, res: Response) => Promise<GatewayContext>;
}

/**
 * POST /graphql, after the CORS, CSRF and body-size guards and the one JSON body parse, before Apollo: a request
 * in the plain shape (query, optional operationName and variables, no extensions) is offered to the pass-through;
 * whatever it declines, or answers with something to format, continues to Apollo with the context made here.
 * Apollo's own CSRF prevention passes every request this sees: express.json parsed its body, so its content type
 * is application/json, which no browser sends cross-site without a preflight.
 */
export function passThroughRoute(route: PassThroughRoute): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'POST') {
      next();
      return;
    }
    const body: unknown = req.body;
    if (!isPlainRequest(body)) {
      next();
      return;
    }
    const answerType = ANSWER_TYPES.get(req.headers.accept ?? '');
    if (answerType === undefined) {
      next();
      return;
    }
    run(route, req, res, body, answerType).then(
      (answered) => {
        if (!answered) next();
      },
      (error: unknown) => next(error),
    );
  };
}

interface PlainRequest {
  readonly query: string;
  readonly operationName?: string | null;
  readonly variables?: Readonly<Record<string, unknown>> | null;
}

/** True when answered; false to continue to Apollo. Whatever fails here, Apollo's path answers as it would. */
async function run(route: PassThroughRoute, req: Request, res: Response, body: PlainRequest, answerType: string): Promise<boolean> {
  let context: GatewayContext;
  try {
    context = await route.contextOf(req, res);
  } catch {
    return false;
  }
  let outcome: PassThroughOutcome;
  try {
    outcome = await route.run({
      composition: route.composition(),
      query: body.query,
      operationName: body.operationName ?? undefined,
      variables: body.variables ?? undefined,
      viewer: context.viewer,
      context,
      header: (name) => headerValue(req.headers, name),
    });
  } catch {
    // Nothing was sent (the exchange itself never throws): the general path runs it and reports what fails.
    handedOver.set(req, context);
    return false;
  }
  if (outcome.kind === 'answer') {
    // What Apollo's Express middleware and res.send write for this answer, without res.send's per-call parse of
    // the content type and, past 1,000 characters, its copy of the body into a Buffer.
    res.statusCode = 200;
    res.setHeader('Content-Type', answerType);
    res.setHeader('Content-Length', String(Buffer.byteLength(outcome.text)));
    res.end(outcome.text);
    return true;
  }
  handedOver.set(req, outcome.kind === 'prefetched' ? withPrefetched(context, outcome.answer) : context);
  return false;
}

/** What Apollo accepts without question (runHttpQuery.ts), minus `extensions`: anything else is Apollo's to judge. */
function isPlainRequest(body: unknown): body is PlainRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Buffer.isBuffer(body)) return false;
  const { query, operationName, variables, extensions } = body as Record<string, unknown>;
  if (typeof query !== 'string' || query === '' || extensions !== undefined) return false;
  if (operationName != null && typeof operationName !== 'string') return false;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables) || Buffer.isBuffer(variables))) return false;
  return true;
}

/** As Apollo's HeaderMap reads it: repeated values joined. */
function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
