import type { ExecutionResult } from '@graphql-tools/utils';
import {
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  isNonNullType,
  Kind,
  type DocumentNode,
  type GraphQLObjectType,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Viewer } from '../auth/auth-service.js';
import type { AuthorizationMode } from '../config/config.js';
import { ErrorCode, GatewayError, type TokenRejection } from '../errors.js';
import type { Logger } from '../logger.js';
import { selectsIntrospection, type AuthorizationDecision, type Caller, type DeniedSelection } from './authorization.js';
import { badUserInput } from './complete.js';
import { GATEWAY_SOURCE, type Composition } from './compose.js';
import { UpstreamError, upstreamFailureOf, type UpstreamCallContext } from './executor.js';
import { callHeadersFor, type HeaderReader } from './call-headers.js';
import type { IdentityCache } from './identity-cache.js';
import { prefetchedOf } from './prefetched.js';

export interface GatewayRequest {
  readonly document: DocumentNode;
  readonly operationName: string | null | undefined;
  readonly variables: Record<string, unknown> | undefined;
  readonly viewer: Viewer;
  /** The context the gateway's own resolvers receive. */
  readonly context: object;
  /** A client request header by lower-case name (only UPSTREAM_FORWARD_HEADERS are ever read). */
  readonly header: HeaderReader;
}

export interface ExecutionOptions {
  readonly identity: IdentityCache;
  readonly forwardHeaders: readonly string[];
  readonly mode: AuthorizationMode;
  readonly logger: Logger;
  /** UPSTREAM_DEDUPLICATE: identical queries in flight at once, same identity, share one upstream call. */
  readonly deduplicate: boolean;
}

export type GatewayExecution = (composition: Composition, request: GatewayRequest) => Promise<ExecutionResult>;

/**
 * Runs one validated operation in gateway mode: decide first, then send only what is allowed.
 * - introspection and `__typename` only: answered here from the composed schema;
 * - only the gateway's own fields: executed on its own schema, exactly as without upstreams;
 * - every root field from one upstream (the fast path): the pruned operation goes to that upstream once and its
 *   answer comes back as is (completed with nulls and errors only where something was denied), never executed
 *   a second time;
 * - anything else: the pruned operation is executed on the stitched schema, the gateway's own fields in process.
 */
export function createGatewayExecution(options: ExecutionOptions): GatewayExecution {
  const { identity, forwardHeaders, mode, logger, deduplicate } = options;

  async function headersFor(upstreams: readonly string[], request: GatewayRequest): Promise<UpstreamCallContext> {
    const map = new Map<string, Record<string, string>>();
    const input = { identity, forwardHeaders, viewer: request.viewer, header: request.header };
    await Promise.all(upstreams.map(async (upstream) => map.set(upstream, await callHeadersFor(input, upstream))));
    return { upstreamHeaders: map, deduplicate };
  }

  return async (composition: Composition, request: GatewayRequest): Promise<ExecutionResult> => {
    const { document, operationName, variables } = request;
    const operation = getOperationAST(document, operationName);
    const run = (schema: typeof composition.apiSchema, contextValue: object, doc: DocumentNode = document) =>
      execute({ schema, document: doc, operationName, variableValues: variables, contextValue }) as Promise<ExecutionResult> | ExecutionResult;
    if (!operation) return run(composition.apiSchema, request.context);

    const owners = cachedRootOwners(composition, document, operation);
    // The pass-through already ran this query of the gateway's own fields and handed its result over to be formatted.
    const ownOnly = owners.size === 0 || (owners.size === 1 && owners.has(GATEWAY_SOURCE));
    const ownPrefetched = ownOnly ? prefetchedOf(request.context) : undefined;
    if (ownPrefetched?.upstream === GATEWAY_SOURCE) return ownPrefetched.result;
    if (owners.size === 0) return run(composition.apiSchema, request.context);
    // Issue 16 item 7: introspection is always answered here, from the composed schema. Beside an upstream's
    // fields it must not take the fast path (the upstream would show its whole real schema), and beside the
    // gateway's own fields it must not see the gateway's schema alone: such operations take the mixed path below.
    const introspection = selectsIntrospection(document, operationName);
    if (owners.size === 1 && owners.has(GATEWAY_SOURCE) && !introspection) return run(composition.ownSchema, request.context);

    // A session that must first enroll a second factor (MFA_REQUIRED_ROLES) reaches no upstream.
    if (request.viewer.kind === 'user' && request.viewer.enrollmentOnly) return { data: null, errors: [gatewayErrorAt(ErrorCode.MFA_ENROLLMENT_REQUIRED, undefined)] };
    const caller = callerOf(request.viewer);
    const decision = composition.planner.authorize({ document, operationName, variables, caller });
    if (decision.deniedCount > 0 && mode === 'reject') {
      return { data: null, errors: decision.denied.map((denied) => deniedError(denied)) };
    }
    const upstreams = [...owners].filter((owner) => owner !== GATEWAY_SOURCE);

    if (owners.size === 1 && !introspection) {
      const upstream = upstreams[0] as string;
      let data: Record<string, unknown> | null = null;
      let upstreamErrors: readonly GraphQLError[] = [];
      if (!decision.nothingAllowed && decision.deniedCount > 0) {
        // The pruned document is the gateway's, and a variable left only in a denied field would not even reach
        // the upstream: a variable that does not coerce fails the whole request here, as GraphQL says, and no
        // upstream is called for it. (Nothing denied: the client's document goes as it came, and the upstream
        // coerces.)
        const coerced = getVariableValues(composition.apiSchema, operation.variableDefinitions ?? [], variables ?? {});
        if (coerced.errors) return { data: null, errors: coerced.errors.map(badUserInput) };
      }
      if (!decision.nothingAllowed) {
        const executor = composition.executors.get(upstream);
        if (!executor) throw new Error(`No executor for upstream ${upstream}.`);
        // The pass-through already made this very call and handed its answer over (it had errors to format).
        const prefetched = prefetchedOf(request.context);
        const result =
          prefetched && prefetched.upstream === upstream && decision.deniedCount === 0 && decision.document === document
            ? prefetched.result
            : ((await executor({
                document: decision.document,
                variables: variablesFor(decision.document, variables),
                ...(operationName && { operationName }),
                operationType: operation.operation,
                context: await headersFor([upstream], request),
              })) as ExecutionResult);
        const failure = result.errors?.map(upstreamFailureOf).find((found) => found !== undefined);
        if (failure) {
          logger.warn({ upstream, kind: failure.kind }, `upstream ${upstream} unavailable: ${failure.message}`);
          const unavailable = unavailableAnswer(composition, decision.document, operationName);
          data = unavailable.data;
          upstreamErrors = unavailable.errors;
        } else {
          data = (result.data as Record<string, unknown> | null | undefined) ?? null;
          upstreamErrors = result.errors ?? [];
        }
      }
      if (decision.deniedCount === 0 && !decision.nothingAllowed) return { data, ...(upstreamErrors.length > 0 && { errors: [...upstreamErrors] }) };
      const completed = completeAnswer(composition, decision, { document, operationName, variables, caller, data });
      const errors = [...completed.errors, ...upstreamErrors];
      return { data: completed.data, ...(errors.length > 0 && { errors }) };
    }

    // Mixed: the gateway's own fields and upstream fields, or several upstreams.
    const context = { ...(request.context as Record<string, unknown>), ...(await headersFor(upstreams, request)) };
    const result = await run(composition.apiSchema, context, decision.document);
    const errors = (result.errors ?? []).map((error) => {
      const failure = upstreamFailureOf(error);
      if (failure) {
        logger.warn({ upstream: failure.upstream, kind: failure.kind }, `upstream ${failure.upstream} unavailable: ${failure.message}`);
        return gatewayErrorAt(ErrorCode.UPSTREAM_UNAVAILABLE, error.path ?? undefined);
      }
      return withOriginal(error);
    });
    if (decision.deniedCount === 0) return { data: result.data ?? null, ...(errors.length > 0 && { errors }) };
    const completed = completeAnswer(composition, decision, { document, operationName, variables, caller, data: (result.data as Record<string, unknown> | null | undefined) ?? null });
    const all = [...completed.errors, ...errors];
    return { data: completed.data, ...(all.length > 0 && { errors: all }) };
  };
}

/**
 * Delegation copies errors, and the copies are GraphQLErrors named after the original: the formatter needs the
 * real GatewayError or UpstreamError, so the error is re-made at its path around the innermost original found.
 */
function withOriginal(error: GraphQLError): GraphQLError {
  let current: unknown = error.originalError;
  let found: Error | undefined;
  for (let depth = 0; depth < 10 && current; depth++) {
    if (current instanceof GatewayError || current instanceof UpstreamError) {
      found = current;
      break;
    }
    current = (current as { originalError?: unknown }).originalError;
  }
  if (!found || found === error.originalError) return error;
  return new GraphQLError(found.message, {
    ...(error.path && { path: error.path }),
    ...(error.nodes && { nodes: error.nodes }),
    originalError: found,
    extensions: error.extensions,
  });
}

/**
 * The planner's completion; when the answer has no data at all (a non-null root field failed), it has nowhere to
 * put the denials, so they are listed at their paths as written: a client still learns what was refused.
 */
function completeAnswer(
  composition: Composition,
  decision: AuthorizationDecision,
  input: Parameters<Composition['planner']['complete']>[0],
): { data: Record<string, unknown> | null; errors: GraphQLError[] } {
  const completed = composition.planner.complete(input);
  if (completed.data === null && completed.errors.length === 0 && decision.deniedCount > 0) {
    return { data: null, errors: decision.denied.map((denied) => deniedError(denied)) };
  }
  return completed;
}

export function callerOf(viewer: Viewer): Caller {
  switch (viewer.kind) {
    case 'user':
      return { kind: 'user', roles: viewer.roles, amr: viewer.amr };
    case 'rejected':
      return { kind: 'rejected', reason: viewer.reason };
    default:
      return viewer;
  }
}

function deniedError(denied: DeniedSelection): GraphQLError {
  return gatewayErrorAt(denied.code, denied.path, denied.reason);
}

function gatewayErrorAt(code: ErrorCode, path: readonly (string | number)[] | undefined, reason?: TokenRejection | 'MFA_REQUIRED'): GraphQLError {
  const original = new GatewayError(code, reason ? { reason } : {});
  return new GraphQLError(original.message, { ...(path && { path }), originalError: original, extensions: { code } });
}

/** Apollo hands over the same DocumentNode for the same query text (its document store), so the walk runs once. */
const ownersCache = new WeakMap<Composition, WeakMap<DocumentNode, Map<string, Set<string>>>>();
function cachedRootOwners(composition: Composition, document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  let byDocument = ownersCache.get(composition);
  if (!byDocument) {
    byDocument = new WeakMap();
    ownersCache.set(composition, byDocument);
  }
  let byOperation = byDocument.get(document);
  if (!byOperation) {
    byOperation = new Map();
    byDocument.set(document, byOperation);
  }
  const key = operation.name?.value ?? '';
  let owners = byOperation.get(key);
  if (!owners) {
    owners = rootOwners(composition, document, operation);
    byOperation.set(key, owners);
  }
  return owners;
}

/** Who answers each root field: the upstream's name or GATEWAY_SOURCE; `__typename` and introspection belong to nobody. */
export function rootOwners(composition: Composition, document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  const rootType = operation.operation === 'query' ? 'Query' : operation.operation === 'mutation' ? 'Mutation' : 'Subscription';
  const owners = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): void => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        owners.add(composition.ownerOf.get(`${rootType}.${selection.name.value}`) ?? GATEWAY_SOURCE);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
        if (fragment && fragment.kind === Kind.FRAGMENT_DEFINITION) walk(fragment.selectionSet);
      }
    }
  };
  walk(operation.selectionSet);
  return owners;
}

/** Only the variables the pruned operation declares: nothing else the client sent goes upstream. */
const declaredVariables = new WeakMap<DocumentNode, readonly string[]>();
function variablesFor(document: DocumentNode, variables: Record<string, unknown> | undefined): Record<string, unknown> {
  let names = declaredVariables.get(document);
  if (!names) {
    names = document.definitions.flatMap((definition) =>
      definition.kind === Kind.OPERATION_DEFINITION ? (definition.variableDefinitions ?? []).map((variable) => variable.variable.name.value) : [],
    );
    declaredVariables.set(document, names);
  }
  const picked: Record<string, unknown> = {};
  for (const name of names) if (variables && name in variables) picked[name] = variables[name];
  return picked;
}

/** `null` at every root field that was sent (the whole `data` when one is non-null), one error each. */
function unavailableAnswer(composition: Composition, sent: DocumentNode, operationName: string | null | undefined): { data: Record<string, unknown> | null; errors: GraphQLError[] } {
  const operation = getOperationAST(sent, operationName);
  const root: GraphQLObjectType | null | undefined =
    operation?.operation === 'mutation' ? composition.apiSchema.getMutationType() : operation?.operation === 'subscription' ? composition.apiSchema.getSubscriptionType() : composition.apiSchema.getQueryType();
  let data: Record<string, unknown> | null = {};
  const errors: GraphQLError[] = [];
  const keys = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): void => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        if (selection.name.value === '__typename' || keys.has(key)) continue;
        keys.add(key);
        errors.push(gatewayErrorAt(ErrorCode.UPSTREAM_UNAVAILABLE, [key]));
        const field = root?.getFields()[selection.name.value];
        if (field && isNonNullType(field.type)) data = null;
        else if (data) data[key] = null;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet);
      } else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = sent.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
        if (fragment && fragment.kind === Kind.FRAGMENT_DEFINITION) walk(fragment.selectionSet);
      }
    }
  };
  if (operation) walk(operation.selectionSet);
  return { data, errors };
}
