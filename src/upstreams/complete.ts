import {
  buildASTSchema,
  execute,
  GraphQLError,
  parse,
  printSchema,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLSchema,
  type GraphQLTypeResolver,
} from 'graphql';
import { ErrorCode, ForbiddenReason, GatewayError, TokenRejection } from '../errors.js';
import type { Caller, Denial } from './authorization-types.js';
import { decide, type Requirements } from './requirements.js';

export interface CompleteInput {
  readonly document: DocumentNode;
  readonly operationName?: string | null;
  readonly variables: Record<string, unknown> | undefined;
  readonly caller: Caller;
  readonly data: Record<string, unknown> | null;
}

export type Completer = (input: CompleteInput, decision: { readonly nothingAllowed: boolean }) => { data: Record<string, unknown> | null; errors: GraphQLError[] };

/**
 * Builds the client's answer by executing the client's own document locally over the upstream's data, with
 * resolvers that only read what the upstream answered and throw at denied fields. graphql-js then does what
 * GraphQL's rules say, with nothing hand-written: null bubbling for non-null fields, abstract types resolved by
 * `__typename`, one error per occurrence with its concrete path (list indices included), response keys by alias,
 * @skip/@include. No upstream work is repeated: the resolvers are property reads.
 */
export function createCompleter(schema: GraphQLSchema, requirements: Requirements, owned: ReadonlySet<string>): Completer {
  // A copy without resolvers, type resolvers or scalar parsing: the composed schema's resolvers would call the
  // upstream again, and the upstream's values are already serialized.
  const local = buildASTSchema(parse(printSchema(schema)), { assumeValid: true, assumeValidSDL: true });

  const typeResolver: GraphQLTypeResolver<unknown, unknown> = (value) => {
    const typename = (value as Record<string, unknown> | null)?.['__typename'];
    return typeof typename === 'string' ? typename : undefined;
  };

  // One error object per kind of denial, made once: building an Error captures a stack trace, which costs more
  // than the whole lookup when a long list has a denied field in every item. The errors are never mutated.
  const errors = new Map<Denial, GatewayError>();
  const errorFor = (denial: Denial): GatewayError => {
    let error = errors.get(denial);
    if (!error) {
      error = toGatewayError(denial);
      errors.set(denial, error);
    }
    return error;
  };

  return (input, decision) => {
    const { caller } = input;
    // A null answer means the upstream failed as a whole (its errors say why) unless nothing was sent at all.
    const rootValue = input.data ?? (decision.nothingAllowed ? {} : null);
    if (rootValue === null) return { data: null, errors: [] };

    const upstreamRootKeys = new Map<string | number, boolean>();
    const fieldResolver: GraphQLFieldResolver<unknown, unknown> = (source, _args, _context, info) => {
      let root = info.path;
      while (root.prev) root = root.prev;
      let decided: boolean;
      if (root === info.path) {
        decided = owned.has(`${info.parentType.name}.${info.fieldName}`);
        upstreamRootKeys.set(root.key, decided);
      } else {
        decided = upstreamRootKeys.get(root.key) === true;
      }
      if (decided) {
        const denial = decide(requirements.of(info.parentType, info.fieldName), caller);
        if (denial) throw errorFor(denial);
      }
      return (source as Record<string, unknown>)[info.path.key as string];
    };

    const result = execute({
      schema: local,
      document: input.document,
      operationName: input.operationName,
      variableValues: input.variables,
      rootValue,
      fieldResolver,
      typeResolver,
    });
    if ('then' in result) throw new Error('The completer resolved asynchronously; its resolvers are property reads and must not.');
    if (result.data === undefined) {
      // No data at all is a request error: the document was validated, so what failed is the client's variables
      // not coercing. Nothing was sent upstream (or the upstream refused them too): the client's mistake, said so.
      return { data: null, errors: (result.errors ?? []).map(badUserInput) };
    }
    return { data: result.data as Record<string, unknown> | null, errors: [...(result.errors ?? [])] };
  };
}

/** A variable that does not coerce, as the client's mistake (BAD_USER_INPUT) rather than an internal error. */
export function badUserInput(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    ...(error.nodes && { nodes: error.nodes }),
    originalError: new GatewayError(ErrorCode.BAD_USER_INPUT, { detail: error.message }),
    extensions: { code: ErrorCode.BAD_USER_INPUT },
  });
}

function toGatewayError(denial: Denial): GatewayError {
  const code = denial.code === 'FORBIDDEN' ? ErrorCode.FORBIDDEN : denial.code === 'SERVICE_UNAVAILABLE' ? ErrorCode.SERVICE_UNAVAILABLE : ErrorCode.UNAUTHENTICATED;
  if (denial.reason === 'MFA_REQUIRED') return new GatewayError(code, { reason: ForbiddenReason.MFA_REQUIRED });
  const reason = denial.reason === undefined ? undefined : denial.reason === 'TOKEN_EXPIRED' ? TokenRejection.TOKEN_EXPIRED : TokenRejection.TOKEN_INVALID;
  return new GatewayError(code, reason ? { reason } : {});
}
