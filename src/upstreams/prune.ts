import {
  getDirectiveValues,
  getNamedType,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  isCompositeType,
  isObjectType,
  Kind,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';
import type { AuthorizationDecision, Caller, Denial, DeniedSelection } from './authorization-types.js';
import { decide, type Requirements } from './requirements.js';

/** 'root': the operation's top level, where each field is decided only if an upstream owns it. 'decide': under an upstream root field. 'pass': under one of the gateway's own root fields, whose resolvers decide. */
type Mode = 'root' | 'decide' | 'pass';

interface Walked {
  readonly selections: readonly SelectionNode[];
  /** Whether `selections` differ from the input (then a named fragment needs a pruned copy). */
  readonly changed: boolean;
  readonly denied: readonly DeniedSelection[];
  /** Upstream root fields kept (only counted at the root). */
  readonly upstreamRootFields: number;
}

interface FragmentVariant {
  readonly walked: Walked;
  /** The name the pruned copy goes by; the original name when nothing changed. */
  readonly name: string;
}

const TYPENAME: FieldNode = Object.freeze({ kind: Kind.FIELD, name: Object.freeze({ kind: Kind.NAME, value: '__typename' }) });

export interface PlanInput {
  readonly schema: GraphQLSchema;
  readonly requirements: Requirements;
  readonly owned: ReadonlySet<string>;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  /** What the @skip/@include variables evaluate to (true, false or null; absent when absent or invalid): nothing else reads them. */
  readonly variables: Record<string, unknown>;
  readonly caller: Caller;
}

/**
 * Walks the operation once, deciding each upstream field for each concrete type it may be selected on, and
 * builds the document to send upstream. Hand-written because no maintained library prunes by per-type
 * authorization while keeping response keys (graphql-tools' FilterSchema/pruneSchema work on schemas, Apollo
 * Router's equivalent is Rust). Named fragments are pruned once per (fragment, context), and a fragment whose
 * pruned form differs gets a copy under a new name, so each spread keeps exactly what its own place allows.
 */
export function plan(input: PlanInput): AuthorizationDecision {
  const { schema, requirements, owned, document, operation, variables, caller } = input;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const variants = new Map<string, FragmentVariant | 'walking'>();
  const copies = new Map<string, FragmentDefinitionNode>();

  function included(node: SelectionNode): boolean {
    if (!node.directives || node.directives.length === 0) return true;
    try {
      if (getDirectiveValues(GraphQLSkipDirective, node, variables)?.['if'] === true) return false;
      if (getDirectiveValues(GraphQLIncludeDirective, node, variables)?.['if'] === false) return false;
    } catch {
      // Variables that do not coerce: the request fails anyway. Deciding the selection costs nothing extra.
    }
    return true;
  }

  function narrow(possible: readonly GraphQLObjectType[], typeName: string | undefined): { type: GraphQLCompositeType | undefined; possible: readonly GraphQLObjectType[] } {
    if (typeName === undefined) return { type: undefined, possible };
    const type = schema.getType(typeName);
    if (!type || !isCompositeType(type)) return { type: undefined, possible: [] };
    if (isObjectType(type)) return { type, possible: possible.includes(type) ? [type] : [] };
    return { type, possible: possible.filter((candidate) => schema.isSubType(type, candidate)) };
  }

  function walkField(node: FieldNode, parent: GraphQLCompositeType, possible: readonly GraphQLObjectType[], mode: Mode, out: SelectionNode[], acc: Accumulator): void {
    const name = node.name.value;
    const key = node.alias?.value ?? name;
    if (name.startsWith('__')) {
      out.push(node);
      return;
    }
    const fieldMode: Mode = mode === 'root' ? (owned.has(`${parent.name}.${name}`) ? 'decide' : 'pass') : mode;
    const definition = 'getFields' in parent ? parent.getFields()[name] : undefined;
    if (!definition) {
      // Not a field of this type: validation refuses the document before it gets here. Keep it as written.
      out.push(node);
      return;
    }
    let allowed: readonly GraphQLObjectType[] = possible;
    let denial: Denial | undefined;
    if (fieldMode === 'decide') {
      const passing: GraphQLObjectType[] = [];
      for (const type of possible) {
        const refused = decide(requirements.of(type, name), caller);
        if (refused) denial ??= refused;
        else passing.push(type);
      }
      allowed = passing;
      if (denial) acc.denied.push({ ...denial, path: [key], coordinate: `${parent.name}.${name}` });
      if (allowed.length === 0) {
        acc.changed = true;
        return;
      }
    }
    let kept: FieldNode = node;
    if (node.selectionSet) {
      const returned = getNamedType(definition.type);
      if (isCompositeType(returned)) {
        const childPossible = isObjectType(returned) ? [returned] : schema.getPossibleTypes(returned);
        const child = walkSet(node.selectionSet.selections, returned, childPossible, fieldMode);
        for (const denied of child.denied) acc.denied.push({ ...denied, path: [key, ...denied.path] });
        let selections = child.selections;
        let changed = child.changed;
        // The completer resolves interfaces and unions by __typename.
        if (isAbstractType(returned) && !selections.some(isPlainTypename)) {
          selections = [TYPENAME, ...selections];
          changed = true;
        }
        if (selections.length === 0) selections = [TYPENAME];
        if (changed) {
          kept = { ...node, selectionSet: { ...node.selectionSet, selections } };
          acc.changed = true;
        }
      }
    }
    if (mode === 'root' && fieldMode === 'decide') acc.upstreamRootFields += 1;
    if (denial) {
      // Allowed on some of the types it may be selected on: ask for it only on those.
      acc.changed = true;
      for (const type of allowed) out.push(inlineOn(type.name, kept));
      return;
    }
    out.push(kept);
  }

  function walkSet(selections: readonly SelectionNode[], parent: GraphQLCompositeType, possible: readonly GraphQLObjectType[], mode: Mode): Walked {
    const acc: Accumulator = { changed: false, denied: [], upstreamRootFields: 0 };
    const out: SelectionNode[] = [];
    for (const node of selections) {
      if (!included(node)) {
        acc.changed = true;
        continue;
      }
      if (node.kind === Kind.FIELD) {
        walkField(node, parent, possible, mode, out, acc);
        continue;
      }
      const typeName = node.kind === Kind.INLINE_FRAGMENT ? node.typeCondition?.name.value : fragments.get(node.name.value)?.typeCondition.name.value;
      const narrowed = narrow(possible, typeName);
      if (narrowed.possible.length === 0) {
        // Can never match here: nothing to ask for.
        acc.changed = true;
        continue;
      }
      const type = narrowed.type ?? parent;
      let inner: Walked;
      let replacement: SelectionNode;
      if (node.kind === Kind.INLINE_FRAGMENT) {
        inner = walkSet(node.selectionSet.selections, type, narrowed.possible, mode);
        replacement = inner.changed ? { ...node, selectionSet: { ...node.selectionSet, selections: inner.selections } } : node;
      } else {
        const variant = fragmentVariant(node.name.value, type, narrowed.possible, mode);
        inner = variant.walked;
        replacement = variant.name === node.name.value ? node : { ...node, name: { ...node.name, value: variant.name } };
      }
      for (const denied of inner.denied) acc.denied.push(denied);
      acc.upstreamRootFields += inner.upstreamRootFields;
      if (inner.changed) acc.changed = true;
      if (inner.selections.length === 0) {
        acc.changed = true;
        continue;
      }
      out.push(replacement);
    }
    return { selections: out, changed: acc.changed, denied: acc.denied, upstreamRootFields: acc.upstreamRootFields };
  }

  function fragmentVariant(name: string, type: GraphQLCompositeType, possible: readonly GraphQLObjectType[], mode: Mode): FragmentVariant {
    const memoKey = `${name}|${mode}|${possible.map((candidate) => candidate.name).join(',')}`;
    const known = variants.get(memoKey);
    if (known === 'walking') throw new Error(`Fragment ${name} spreads itself; validate the document before authorizing it.`);
    if (known) return known;
    const definition = fragments.get(name);
    if (!definition) throw new Error(`Unknown fragment ${name}; validate the document before authorizing it.`);
    variants.set(memoKey, 'walking');
    const walked = walkSet(definition.selectionSet.selections, type, possible, mode);
    let emitted = name;
    if (walked.changed) {
      let counter = copies.size + 1;
      while (fragments.has(`${name}__authz${counter}`) || copies.has(`${name}__authz${counter}`)) counter += 1;
      emitted = `${name}__authz${counter}`;
      copies.set(emitted, { ...definition, name: { ...definition.name, value: emitted }, selectionSet: { ...definition.selectionSet, selections: walked.selections } });
    }
    const variant: FragmentVariant = { walked, name: emitted };
    variants.set(memoKey, variant);
    return variant;
  }

  const rootType = schema.getRootType(operation.operation);
  if (!rootType) throw new Error(`The schema has no ${operation.operation} type; validate the document before authorizing it.`);
  const walked = walkSet(operation.selectionSet.selections, rootType, [rootType], 'root');
  const nothingAllowed = walked.upstreamRootFields === 0;
  if (walked.denied.length === 0) return Object.freeze({ deniedCount: 0, denied: Object.freeze([]), document, nothingAllowed });

  const pruned: OperationDefinitionNode = {
    ...operation,
    selectionSet: { ...operation.selectionSet, selections: walked.selections.length > 0 ? walked.selections : [TYPENAME] },
  };
  return Object.freeze({
    deniedCount: walked.denied.length,
    denied: Object.freeze(walked.denied),
    document: assemble(pruned, fragments, copies),
    nothingAllowed,
  });
}

interface Accumulator {
  changed: boolean;
  denied: DeniedSelection[];
  upstreamRootFields: number;
}

function isPlainTypename(node: SelectionNode): boolean {
  return node.kind === Kind.FIELD && node.name.value === '__typename' && node.alias === undefined;
}

function inlineOn(typeName: string, field: FieldNode): InlineFragmentNode {
  return {
    kind: Kind.INLINE_FRAGMENT,
    typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: typeName } },
    selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
  };
}

/** The pruned operation with only the fragments it still spreads and only the variables it still uses. */
function assemble(operation: OperationDefinitionNode, originals: ReadonlyMap<string, FragmentDefinitionNode>, copies: ReadonlyMap<string, FragmentDefinitionNode>): DocumentNode {
  const used = new Map<string, FragmentDefinitionNode>();
  const variables = new Set<string>();
  const pending: (OperationDefinitionNode | FragmentDefinitionNode)[] = [operation];
  for (let next = pending.pop(); next; next = pending.pop()) {
    visit(next.kind === Kind.OPERATION_DEFINITION ? { ...next, variableDefinitions: [] } : next, {
      Variable(node) {
        variables.add(node.name.value);
      },
      FragmentSpread(node) {
        const name = node.name.value;
        const definition = copies.get(name) ?? originals.get(name);
        if (definition && !used.has(name)) {
          used.set(name, definition);
          pending.push(definition);
        }
      },
    });
  }
  const kept: OperationDefinitionNode = {
    ...operation,
    variableDefinitions: (operation.variableDefinitions ?? []).filter((definition) => variables.has(definition.variable.name.value)),
  };
  return { kind: Kind.DOCUMENT, definitions: [kept, ...used.values()] };
}
