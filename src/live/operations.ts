import {
  execute,
  getOperationAST,
  GraphQLError,
  parse,
  specifiedRules,
  subscribe,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type ParseOptions,
  type ValidationRule,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { SignedInViewer, Viewer } from '../auth/auth-service.js';
import type { AuthorizationMode } from '../config/config.js';
import { ErrorCode, GatewayError } from '../errors.js';
import type { GatewayContext } from '../graphql/context.js';
import type { Logger } from '../logger.js';
import type { Caller, DeniedSelection } from '../upstreams/authorization.js';
import { GATEWAY_SOURCE, type Composition } from '../upstreams/compose.js';
import { callerOf, type GatewayExecution } from '../upstreams/execute.js';
import { ownFieldsDenied } from './decide-own.js';
import { liveStream, type LiveStream } from './live-stream.js';
import type { LiveConnection } from './types.js';
import type { UpstreamSubscriber } from './upstream-subscriptions.js';

/** What a transport hands over for one operation, already parsed and validated by `prepare`. */
export interface PreparedOperation {
  readonly document: DocumentNode;
  readonly operationName: string | null | undefined;
  readonly variables: Record<string, unknown> | undefined;
  readonly schema: GraphQLSchema;
  readonly composition: Composition | undefined;
}

export interface LiveOperations {
  /** The schema operations are validated against now (the composed one in gateway mode). */
  schema(): GraphQLSchema;
  /** Parses (token limit) and validates (graphql-js rules and the hardening limits): the document, or its errors. */
  prepare(request: { query: string; operationName?: string | null | undefined; variables?: Record<string, unknown> | null | undefined }): PreparedOperation | readonly GraphQLError[];
  /** Runs a query or mutation once, or opens a subscription as a stream the registry can end. */
  run(operation: PreparedOperation, connection: LiveConnection, id: string, context: GatewayContext): Promise<ExecutionResult | LiveStream>;
}

export interface LiveOperationsOptions {
  readonly ownSchema: GraphQLSchema;
  /** Gateway mode: the current composition, and how HTTP runs queries and mutations on it. */
  readonly gateway: { readonly current: () => Composition; readonly execution: GatewayExecution; readonly mode: AuthorizationMode } | undefined;
  readonly upstreams: UpstreamSubscriber | undefined;
  readonly parseOptions: ParseOptions;
  readonly validationRules: readonly ValidationRule[];
  readonly maxBuffered: number;
  readonly logger: Logger;
}

/** Query text held by the prepared-document cache, per schema. */
const PREPARED_CACHE_CHARS = 4 * 1024 * 1024;

export function createLiveOperations(options: LiveOperationsOptions): LiveOperations {
  const { ownSchema, gateway, logger } = options;
  const rules = [...specifiedRules, ...options.validationRules];
  /**
   * Parsed and validated documents by query text, per schema (a new composition validates afresh). Clients
   * subscribe with the same few documents, and a reconnect storm brings thousands at once: validating each again
   * cost 26 % of the gateway's CPU while 1,000 connections subscribed ten times each (docs/performance.md), in one
   * event-loop turn long enough to make the revocation view stale. Documents are never mutated once parsed;
   * refused ones are not kept (junk would push good documents out).
   */
  const prepared = new WeakMap<GraphQLSchema, LRUCache<string, DocumentNode>>();

  function parseAndValidate(schema: GraphQLSchema, query: string): DocumentNode | readonly GraphQLError[] {
    let cache = prepared.get(schema);
    if (!cache) {
      cache = new LRUCache<string, DocumentNode>({ maxSize: PREPARED_CACHE_CHARS, sizeCalculation: (_value, text) => text.length + 64 });
      prepared.set(schema, cache);
    }
    const known = cache.get(query);
    if (known) return known;
    let document: DocumentNode;
    try {
      document = parse(query, options.parseOptions);
    } catch (error) {
      const syntax = error instanceof GraphQLError ? error : new GraphQLError('The document could not be parsed.');
      return [new GraphQLError(syntax.message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
    }
    const errors = validate(schema, document, rules);
    if (errors.length > 0) {
      return errors.map((error) => new GraphQLError(error.message, { nodes: error.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
    }
    if (query.length < PREPARED_CACHE_CHARS / 16) cache.set(query, document);
    return document;
  }

  function prepare(request: { query: string; operationName?: string | null | undefined; variables?: Record<string, unknown> | null | undefined }): PreparedOperation | readonly GraphQLError[] {
    const composition = gateway?.current();
    const schema = composition?.apiSchema ?? ownSchema;
    const document = parseAndValidate(schema, request.query);
    if (!('kind' in document)) return document;
    return { document, operationName: request.operationName, variables: request.variables ?? undefined, schema, composition };
  }

  async function run(operation: PreparedOperation, connection: LiveConnection, id: string, context: GatewayContext): Promise<ExecutionResult | LiveStream> {
    const { document, operationName, variables, composition } = operation;
    const definition = getOperationAST(document, operationName);
    if (!definition) return { errors: [new GraphQLError('Name the operation to run (operationName).', { extensions: { code: 'BAD_REQUEST' } })] };
    if (definition.operation !== 'subscription') {
      if (composition && gateway) {
        return gateway.execution(composition, { document, operationName, variables, viewer: context.viewer, context, header: () => undefined });
      }
      return execute({ schema: ownSchema, document, operationName, variableValues: variables, contextValue: context });
    }
    // A subscription has exactly one root field (graphql-js's SingleFieldSubscriptions rule).
    const rootField = definition.selectionSet.selections.find((selection) => selection.kind === 'Field');
    const owner = composition && rootField?.kind === 'Field' ? composition.ownerOf.get(`Subscription.${rootField.name.value}`) : GATEWAY_SOURCE;
    if (owner === undefined || owner === GATEWAY_SOURCE) return subscribeOwn(operation, connection, id, context);
    return subscribeUpstream(operation, owner, connection, id, context);
  }

  async function subscribeOwn(operation: PreparedOperation, connection: LiveConnection, id: string, context: GatewayContext): Promise<ExecutionResult | LiveStream> {
    const { document, operationName, variables } = operation;
    const result = await subscribe({ schema: ownSchema, document, operationName, variableValues: variables, contextValue: context });
    if (!(Symbol.asyncIterator in result)) return result;
    return track(result, connection, id, (viewer) => {
      const denied = ownFieldsDenied(ownSchema, document, operationName, viewer);
      return denied.length === 0 ? undefined : { data: null, errors: denied.map((path) => errorAt(ErrorCode.FORBIDDEN, path)) };
    });
  }

  async function subscribeUpstream(operation: PreparedOperation, upstream: string, connection: LiveConnection, id: string, context: GatewayContext): Promise<ExecutionResult | LiveStream> {
    const { document, operationName, variables } = operation;
    const composition = operation.composition as Composition;
    const planner = composition.planner;
    // A session that must first enroll a second factor (MFA_REQUIRED_ROLES) reaches no upstream, as on /graphql.
    if (context.viewer.kind === 'user' && context.viewer.enrollmentOnly) return { data: null, errors: [errorAt(ErrorCode.MFA_ENROLLMENT_REQUIRED, [])] };
    const decision = planner.authorize({ document, operationName, variables, caller: callerOf(context.viewer) });
    if (decision.nothingAllowed || (decision.deniedCount > 0 && gateway?.mode === 'reject')) {
      return { data: null, errors: decision.denied.map(deniedError) };
    }
    if (!options.upstreams) return { data: null, errors: [errorAt(ErrorCode.UPSTREAM_UNAVAILABLE, [])] };
    const source = options.upstreams.open({ upstream, document: decision.document, operationName, variables, viewer: context.viewer, owner: connection });
    const completed = decision.deniedCount === 0 ? source : completeEach(source, (data) => planner.complete({ document, operationName, variables, caller: callerOf(context.viewer), data }));
    return track(completed, connection, id, (viewer) => {
      const again = planner.authorize({ document, operationName, variables, caller: callerOf(viewer) });
      if (!again.nothingAllowed && again.deniedCount <= decision.deniedCount) return undefined;
      return { data: null, errors: again.denied.map(deniedError) };
    });
  }

  /**
   * Registers the stream with its connection so that the registry can end it; `denial` says, for narrowed roles,
   * the final event (FORBIDDEN at the fields) or undefined when the operation may go on.
   */
  function track(source: AsyncIterable<ExecutionResult>, connection: LiveConnection, id: string, denial: (viewer: SignedInViewer) => ExecutionResult | undefined): LiveStream {
    const stream = liveStream(source, {
      maxBuffered: options.maxBuffered,
      onOverflow: () => {
        logger.info({ operation: id }, 'live connection dropped: the client reads slower than events arrive');
        connection.close(1008);
      },
      onEnd: () => {
        if (connection.operations.get(id) === entry) connection.operations.delete(id);
      },
    });
    const entry = {
      stillAllowed(viewer: SignedInViewer): boolean {
        const last = denial(viewer);
        if (!last) return true;
        stream.end(last);
        return false;
      },
      end: (last?: ExecutionResult): void => stream.end(last),
    };
    connection.operations.set(id, entry);
    return stream;
  }

  return { schema: () => gateway?.current().apiSchema ?? ownSchema, prepare, run };
}

/**
 * Completes each upstream event for the caller: null and FORBIDDEN where a field was denied at subscribe. By
 * hand, not an async generator, so that `return()` reaches the upstream at once (see upstream-subscriptions.ts).
 */
function completeEach(
  source: AsyncIterableIterator<ExecutionResult>,
  complete: (data: Record<string, unknown> | null) => { data: Record<string, unknown> | null; errors: GraphQLError[] },
): AsyncIterableIterator<ExecutionResult> {
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    [Symbol.asyncIterator]: () => iterator,
    async next(): Promise<IteratorResult<ExecutionResult>> {
      const step = await source.next();
      if (step.done) return step;
      const event = step.value;
      const done = complete((event.data as Record<string, unknown> | null | undefined) ?? null);
      const errors = [...done.errors, ...(event.errors ?? [])];
      return { value: { data: done.data, ...(errors.length > 0 && { errors }) }, done: false };
    },
    return: (): Promise<IteratorResult<ExecutionResult>> => source.return?.() ?? Promise.resolve({ value: undefined, done: true }),
  };
  return iterator;
}

function deniedError(denied: DeniedSelection): GraphQLError {
  const original = new GatewayError(denied.code, denied.reason ? { reason: denied.reason } : {});
  return new GraphQLError(original.message, { path: denied.path, originalError: original, extensions: { code: denied.code } });
}

export function errorAt(code: ErrorCode, path: readonly string[]): GraphQLError {
  const original = new GatewayError(code);
  return new GraphQLError(original.message, { ...(path.length > 0 && { path }), originalError: original, extensions: { code } });
}
