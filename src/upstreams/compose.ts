import { stitchSchemas } from '@graphql-tools/stitch';
import { getDocumentNodeFromSchema, type Executor } from '@graphql-tools/utils';
import { isSpecifiedScalarType, Kind, print, visit, type DocumentNode, type GraphQLSchema } from 'graphql';
import { createPlanner, readRules, type AuthorizationRules, type FieldRule, type Planner } from './authorization.js';

/** The name the gateway's own schema goes by in messages and in `ownerOf`. */
export const GATEWAY_SOURCE = 'the gateway';

export interface LoadedUpstream {
  readonly name: string;
  /** The SDL document as loaded, with @authorized/@public declared. */
  readonly document: DocumentNode;
  readonly schema: GraphQLSchema;
  readonly executor: Executor;
}

/** One immutable composition: swapped as a whole when an upstream's schema changes. */
export interface Composition {
  /** What Apollo validates against (limits and introspection rules apply to it) and what the mixed path executes. */
  readonly apiSchema: GraphQLSchema;
  readonly ownSchema: GraphQLSchema;
  readonly planner: Planner;
  /** 'Query.x' / 'Mutation.y' → the upstream's name, or GATEWAY_SOURCE. */
  readonly ownerOf: ReadonlyMap<string, string>;
  readonly executors: ReadonlyMap<string, Executor>;
  /** Upstreams in this composition. */
  readonly upstreams: readonly string[];
}

export type ComposeResult = { readonly ok: true; readonly composition: Composition } | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Serves the gateway's own schema and every upstream's together. A root field two sources define, or a type two
 * sources define differently (compared as printed, directives included, descriptions not), is refused with a
 * message naming both; identical types are shared. Rules are read from each upstream's SDL (unknown roles are
 * problems too).
 */
export function compose(input: { ownSchema: GraphQLSchema; upstreams: readonly LoadedUpstream[]; knownRoles: readonly string[]; where: (upstream: string) => string }): ComposeResult {
  const { ownSchema, upstreams, knownRoles } = input;
  const problems: string[] = [];
  const ownerOf = new Map<string, string>();
  const typeOwner = new Map<string, { source: string; printed: string }>();
  const sources: Array<{ name: string; schema: GraphQLSchema }> = [{ name: GATEWAY_SOURCE, schema: ownSchema }, ...upstreams];
  for (const source of sources) {
    const label = (name: string): string => (name === GATEWAY_SOURCE ? GATEWAY_SOURCE : input.where(name));
    for (const [operation, root] of [
      ['Query', source.schema.getQueryType()],
      ['Mutation', source.schema.getMutationType()],
      ['Subscription', source.schema.getSubscriptionType()],
    ] as const) {
      if (!root) continue;
      for (const field of Object.keys(root.getFields())) {
        const coordinate = `${operation}.${field}`;
        const owner = ownerOf.get(coordinate);
        if (owner !== undefined) {
          problems.push(`${coordinate} is defined by both ${label(owner)} and ${label(source.name)}: rename or remove it in one of them`);
        } else {
          ownerOf.set(coordinate, source.name);
        }
      }
    }
    for (const [name, printed] of typeDefinitions(source.schema)) {
      const seen = typeOwner.get(name);
      if (!seen) typeOwner.set(name, { source: source.name, printed });
      else if (seen.printed !== printed) {
        problems.push(`type ${name} is defined differently by ${label(seen.source)} and ${label(source.name)}: make the definitions identical or rename one`);
      }
    }
  }

  const fields = new Map<string, FieldRule>();
  const types = new Map<string, FieldRule>();
  const rootTypeRules = new Map<string, FieldRule>();
  const owned = new Set<string>();
  for (const upstream of upstreams) {
    const rules = readRules({ upstream: upstream.name, sdl: upstream.document, knownRoles });
    // readRules names the upstream and the place itself.
    problems.push(...rules.problems);
    for (const [key, rule] of rules.fields) fields.set(key, rule);
    for (const [key, rule] of rules.types) types.set(key, rule);
    // Keyed per root field: each upstream's root-type rule covers its own root fields, and root fields never
    // collide (refused above), so two upstreams' root-type rules never meet.
    for (const [key, rule] of rules.rootTypeRules) rootTypeRules.set(key, rule);
  }
  for (const [coordinate, owner] of ownerOf) if (owner !== GATEWAY_SOURCE) owned.add(coordinate);
  for (const [name, { source }] of typeOwner) if (source !== GATEWAY_SOURCE) owned.add(name);
  if (problems.length > 0) return { ok: false, problems };

  const apiSchema =
    upstreams.length === 0
      ? ownSchema
      : stitchSchemas({
          subschemas: [
            // No executor: delegation runs the gateway's own resolvers (and their @authorized checks) in process.
            { schema: ownSchema },
            ...upstreams.map((upstream) => ({ schema: upstream.schema, executor: upstream.executor, batch: false })),
          ],
          mergeDirectives: true,
        });
  const rules: AuthorizationRules = { fields, types, rootTypeRules, owned };
  return {
    ok: true,
    composition: {
      apiSchema,
      ownSchema,
      planner: createPlanner({ schema: apiSchema, rules }),
      ownerOf,
      executors: new Map(upstreams.map((upstream) => [upstream.name, upstream.executor])),
      upstreams: upstreams.map((upstream) => upstream.name),
    },
  };
}

/** Every named type except the roots and built-ins, printed without descriptions. */
function typeDefinitions(schema: GraphQLSchema): Map<string, string> {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  const found = new Map<string, string>();
  const document = visit(getDocumentNodeFromSchema(schema), {
    enter: (node) => ('description' in node && node.description ? { ...node, description: undefined } : undefined),
  });
  for (const definition of document.definitions) {
    if (
      definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.INTERFACE_TYPE_DEFINITION &&
      definition.kind !== Kind.UNION_TYPE_DEFINITION &&
      definition.kind !== Kind.ENUM_TYPE_DEFINITION &&
      definition.kind !== Kind.INPUT_OBJECT_TYPE_DEFINITION &&
      definition.kind !== Kind.SCALAR_TYPE_DEFINITION
    ) {
      continue;
    }
    const name = definition.name.value;
    if (roots.has(name) || name.startsWith('__')) continue;
    const type = schema.getType(name);
    if (type && isSpecifiedScalarType(type)) continue;
    found.set(name, print(definition));
  }
  return found;
}
