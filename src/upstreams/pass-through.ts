import { Kind, parse, specifiedRules, validate, visit, type DocumentNode, type OperationTypeNode, type ParseOptions, type ValidationRule } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Viewer } from '../auth/auth-service.js';
import { callHeadersFor, type HeaderReader } from './call-headers.js';
import { GATEWAY_SOURCE, type Composition } from './compose.js';
import { callerOf, rootOwners, type GatewayExecution } from './execute.js';
import { rawSenderOf, resultOfAnswer } from './executor.js';
import type { IdentityCache } from './identity-cache.js';
import type { PrefetchedAnswer } from './prefetched.js';

export interface PassThroughOptions {
  readonly identity: IdentityCache;
  readonly forwardHeaders: readonly string[];
  /** UPSTREAM_DEDUPLICATE. */
  readonly deduplicate: boolean;
  /** Apollo's own: a document the general path would refuse is never passed through. */
  readonly parseOptions: ParseOptions;
  readonly validationRules: readonly ValidationRule[];
  /** Characters of query text the per-document cache holds (per composition). */
  readonly cacheChars?: number;
  /** The general path's own execution: what runs a query of the gateway's own fields here, so both answer alike. */
  readonly execution: GatewayExecution;
}

export interface PassThroughRequest {
  readonly composition: Composition;
  /** The client's query text and operation name, exactly as they came. */
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  readonly viewer: Viewer;
  /** The request's context, as the general path gives it to the gateway's own resolvers. */
  readonly context: object;
  readonly header: HeaderReader;
}

/**
 * - declined: not an operation for the pass-through (or not for this caller); nothing was sent anywhere.
 * - answer: the upstream's answer as it came, certainly `{"data":{…}}` in the very bytes the general path would
 *   write (so nothing to mask, complete or re-serialize); `text` is the whole response body.
 * - prefetched: the call was made, but its answer needs the general path (errors to format, a failure, or JSON
 *   that is not certainly canonical): it formats this answer instead of calling again.
 */
export type PassThroughOutcome =
  | { readonly kind: 'declined' }
  | { readonly kind: 'answer'; readonly text: string }
  | { readonly kind: 'prefetched'; readonly answer: PrefetchedAnswer };

export type PassThrough = (request: PassThroughRequest) => Promise<PassThroughOutcome>;

/**
 * What is known about one query text and operation name, computed once: declined, passed to one upstream, or a
 * query of the gateway's own fields (and `__typename`) run here.
 */
type DocumentPlan =
  | { readonly passThrough: false }
  | { readonly passThrough: 'own'; readonly document: DocumentNode }
  | {
      readonly passThrough: true;
      readonly document: DocumentNode;
      readonly upstream: string;
      readonly operationType: OperationTypeNode;
      readonly declaredVariables: ReadonlySet<string>;
    };

const NOT_PASS_THROUGH: DocumentPlan = Object.freeze({ passThrough: false });
const DECLINED: PassThroughOutcome = Object.freeze({ kind: 'declined' });
const DEFAULT_CACHE_CHARS = 4 * 1024 * 1024;
const MAX_NAMES_PER_QUERY = 8;

/**
 * The pass-through: an operation whose root fields all belong to one upstream, and of which this caller is
 * denied nothing, goes to that upstream as the client wrote it (its query text and declared variables, with the
 * same headers and identity token as the general path), and a clean answer comes back as the upstream's bytes,
 * never parsed or re-serialized. Everything per document is looked up once, keyed by the exact query text and
 * operation name: parse (with the token limit), validation with every rule Apollo runs (limits included), the
 * root owner, and whether the operation may pass at all (one operation in the document, a query or mutation, no
 * introspection anywhere). The decision per caller class is the planner's, cached by the same document object.
 * Anything else is declined and takes the general path, which is the reference for every answer given here.
 */
export function createPassThrough(options: PassThroughOptions): PassThrough {
  const { identity, forwardHeaders, deduplicate, parseOptions } = options;
  const rules = [...specifiedRules, ...options.validationRules];
  const cacheChars = options.cacheChars ?? DEFAULT_CACHE_CHARS;
  const plans = new WeakMap<Composition, LRUCache<string, Map<string | undefined, DocumentPlan>>>();

  /** By query text, then by operation name: no key is built from the two (a per-request copy of the text). */
  function planFor(composition: Composition, query: string, operationName: string | undefined): DocumentPlan {
    let cache = plans.get(composition);
    if (!cache) {
      cache = new LRUCache<string, Map<string | undefined, DocumentPlan>>({ maxSize: cacheChars, sizeCalculation: (_plans, text) => text.length + 64 });
      plans.set(composition, cache);
    }
    let byName = cache.get(query);
    let plan = byName?.get(operationName);
    if (plan) return plan;
    plan = classify(composition, query, operationName);
    if (query.length < cacheChars / 16) {
      if (!byName) {
        byName = new Map();
        cache.set(query, byName);
      }
      // A document holds few operations; a client cycling through made-up names gets no more room than that.
      if (byName.size < MAX_NAMES_PER_QUERY) byName.set(operationName, plan);
    }
    return plan;
  }

  function classify(composition: Composition, query: string, operationName: string | undefined): DocumentPlan {
    let document: DocumentNode;
    try {
      document = parse(query, parseOptions);
    } catch {
      return NOT_PASS_THROUGH;
    }
    if (validate(composition.apiSchema, document, rules).length > 0) return NOT_PASS_THROUGH;
    const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    // One operation only: the upstream validates the whole text it receives, and another operation in it may
    // name fields that upstream does not have.
    const operation = operations.length === 1 ? operations[0] : undefined;
    if (!operation || operation.kind !== Kind.OPERATION_DEFINITION) return NOT_PASS_THROUGH;
    if (operationName !== undefined && operation.name?.value !== operationName) return NOT_PASS_THROUGH;
    if (operation.operation === 'subscription' || selectsIntrospection(document)) return NOT_PASS_THROUGH;
    const owners = rootOwners(composition, document, operation);
    const upstream = owners.size === 1 ? [...owners][0] : undefined;
    // A query of the gateway's own fields only (`{ __typename }`, health checks, `me`, `currentSession`): no
    // upstream, and nothing Apollo's pipeline adds to an answer without errors. Mutations stay with Apollo (the
    // auth mutations, one per operation, set cookies and are refused at the wrong endpoint by its plugins).
    if (operation.operation === 'query' && (owners.size === 0 || upstream === GATEWAY_SOURCE)) return Object.freeze({ passThrough: 'own', document });
    if (upstream === undefined || upstream === GATEWAY_SOURCE) return NOT_PASS_THROUGH;
    const declaredVariables = new Set((operation.variableDefinitions ?? []).map((definition) => definition.variable.name.value));
    return Object.freeze({ passThrough: true, document, upstream, operationType: operation.operation, declaredVariables });
  }

  return async (request: PassThroughRequest): Promise<PassThroughOutcome> => {
    const { composition, query, operationName, variables, viewer } = request;
    const plan = planFor(composition, query, operationName);
    if (!plan.passThrough) return DECLINED;
    if (plan.passThrough === 'own') return runOwn(request, plan.document, options.execution);
    // A session that must first enroll a second factor (MFA_REQUIRED_ROLES) reaches no upstream: the general path
    // answers it MFA_ENROLLMENT_REQUIRED.
    if (viewer.kind === 'user' && viewer.enrollmentOnly) return DECLINED;
    const { document, upstream } = plan;
    const decision = composition.planner.authorize({ document, operationName, variables: variables as Record<string, unknown> | undefined, caller: callerOf(viewer) });
    // Anything denied or skipped away changes what is sent and what is answered: the general path does that.
    if (decision.deniedCount > 0 || decision.nothingAllowed || decision.document !== document) return DECLINED;
    const executor = composition.executors.get(upstream);
    const send = executor && rawSenderOf(executor);
    if (!send) return DECLINED;

    const headers = await callHeadersFor({ identity, forwardHeaders, viewer, header: request.header }, upstream);
    const body = JSON.stringify({
      query,
      ...(variables != null && { variables: declaredOnly(variables, plan.declaredVariables) }),
      ...(operationName && { operationName }),
    });
    const answer = await send({ body, headers, share: deduplicate && plan.operationType === 'query' });
    if (answer.kind === 'text') {
      const end = cleanDataAnswerEnd(answer.text);
      // Apollo writes JSON.stringify(result) and a newline; a canonical answer is that already.
      if (end > 0) return { kind: 'answer', text: end === answer.text.length - 1 && answer.text.endsWith('\n') ? answer.text : `${answer.text.slice(0, end)}\n` };
    }
    return { kind: 'prefetched', answer: { upstream, result: resultOfAnswer(upstream, answer) } };
  };
}

/**
 * Runs a query of the gateway's own fields with the general path's execution and this request's context. An answer
 * with nothing but `data` is what Apollo would write (JSON.stringify of the result, then a newline); anything else
 * (errors to format, a status to set) goes to Apollo with the result, which the execution then returns as it is
 * instead of running the resolvers a second time.
 */
async function runOwn(request: PassThroughRequest, document: DocumentNode, execution: GatewayExecution): Promise<PassThroughOutcome> {
  const { composition, operationName, variables, viewer, context, header } = request;
  const result = await execution(composition, { document, operationName, variables: variables as Record<string, unknown> | undefined, viewer, context, header });
  if (result.errors === undefined && result.extensions === undefined && result.data != null) return { kind: 'answer', text: `${JSON.stringify(result)}\n` };
  return { kind: 'prefetched', answer: { upstream: GATEWAY_SOURCE, result } };
}

/** Only the variables the operation declares: nothing else the client sent goes upstream (as on the general path). */
function declaredOnly(variables: Readonly<Record<string, unknown>>, declared: ReadonlySet<string>): Readonly<Record<string, unknown>> {
  let extra = false;
  for (const name in variables) {
    if (!declared.has(name)) {
      extra = true;
      break;
    }
  }
  if (!extra) return variables;
  const picked: Record<string, unknown> = {};
  for (const name of declared) if (Object.hasOwn(variables, name)) picked[name] = variables[name];
  return picked;
}

/** `__schema` or `__type` anywhere: introspection is answered by the gateway (or refused), never forwarded. */
function selectsIntrospection(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') found = true;
    },
  });
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// Is this answer certainly clean? Written by hand because what is needed is not a parse but a proof, in one
// allocation-light pass, that JSON.stringify(JSON.parse(text)) (the general path) would give these very bytes and
// that the top level is `data` alone. Any doubt answers no, and the answer is parsed like any other.

const DATA_PREFIX = '{"data":{';
/** Deeper than any answer the depth limit allows (12), with room for JSON scalars; deeper answers are parsed. */
const MAX_NESTING = 64;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The end of the JSON value when `text` is exactly `{"data":{…}}` (then only whitespace) in JSON.stringify's own
 * form: valid JSON; no whitespace; strings with no `\u` or `\/` escapes; numbers as JavaScript prints them; keys
 * unique per object and none starting with a digit (V8 puts integer-like keys first). Otherwise -1. A `data`
 * object with no top-level `errors` or `extensions` beside it has nothing to mask, complete or drop.
 */
export function cleanDataAnswerEnd(text: string): number {
  if (!text.startsWith(DATA_PREFIX)) return -1;
  const afterData = objectEnd(text, DATA_PREFIX.length - 1, 2);
  if (afterData < 0 || text.charCodeAt(afterData) !== 0x7d) return -1;
  const end = afterData + 1;
  for (let i = end; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return -1;
  }
  return end;
}

function valueEnd(text: string, i: number, depth: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x7b) return objectEnd(text, i, depth + 1);
  if (c === 0x5b) return arrayEnd(text, i, depth + 1);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === 0x74) return text.startsWith('true', i) ? i + 4 : -1;
  if (c === 0x66) return text.startsWith('false', i) ? i + 5 : -1;
  if (c === 0x6e) return text.startsWith('null', i) ? i + 4 : -1;
  return numberEnd(text, i);
}

function objectEnd(text: string, start: number, depth: number): number {
  if (depth > MAX_NESTING) return -1;
  let i = start + 1;
  if (text.charCodeAt(i) === 0x7d) return i + 1;
  let keys: string[] | undefined;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1;
    const first = text.charCodeAt(i + 1);
    if (first >= 0x30 && first <= 0x39) return -1;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return -1;
    const key = text.slice(i + 1, keyEnd - 1);
    if (keys === undefined) keys = [key];
    else if (keys.includes(key)) return -1;
    else keys.push(key);
    if (text.charCodeAt(keyEnd) !== 0x3a) return -1;
    i = valueEnd(text, keyEnd + 1, depth);
    if (i < 0) return -1;
    const next = text.charCodeAt(i);
    if (next === 0x7d) return i + 1;
    if (next !== 0x2c) return -1;
    i++;
  }
}

function arrayEnd(text: string, start: number, depth: number): number {
  if (depth > MAX_NESTING) return -1;
  let i = start + 1;
  if (text.charCodeAt(i) === 0x5d) return i + 1;
  for (;;) {
    i = valueEnd(text, i, depth);
    if (i < 0) return -1;
    const next = text.charCodeAt(i);
    if (next === 0x5d) return i + 1;
    if (next !== 0x2c) return -1;
    i++;
  }
}

function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const escaped = text.charCodeAt(i + 1);
      // JSON.stringify writes only these short escapes (and \u00XX for other control characters, sent to the parse).
      if (escaped !== QUOTE && escaped !== BACKSLASH && escaped !== 0x62 && escaped !== 0x66 && escaped !== 0x6e && escaped !== 0x72 && escaped !== 0x74) return -1;
      i++;
    }
  }
  return -1;
}

function numberEnd(text: string, start: number): number {
  let i = start;
  let plainInteger = true;
  if (text.charCodeAt(i) === 0x2d) i++;
  const digitsStart = i;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) i++;
    else if (c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d) {
      plainInteger = false;
      i++;
    } else break;
  }
  if (i === digitsStart) return -1;
  const token = text.slice(start, i);
  // Up to 15 digits, no leading zero, no "-0": exactly how JavaScript prints that integer.
  if (plainInteger && i - digitsStart <= 15 && (text.charCodeAt(digitsStart) !== 0x30 || i - digitsStart === 1) && token !== '-0') return i;
  const value = Number(token);
  return Number.isFinite(value) && String(value) === token ? i : -1;
}
