import { readFile } from 'node:fs/promises';
import type { Executor } from '@graphql-tools/utils';
import {
  buildASTSchema,
  buildClientSchema,
  getIntrospectionQuery,
  Kind,
  parse,
  printSchema,
  specifiedDirectives,
  visit,
  type DefinitionNode,
  type DocumentNode,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { upstreamFailureOf } from './executor.js';

/** Where an upstream's SDL came from. Only `introspection` lacks directives. */
export type SchemaSource = 'file' | 'service' | 'introspection';

export interface UpstreamSdl {
  readonly text: string;
  readonly source: SchemaSource;
}

/** What an SDL may use without declaring (issue 11): the gateway adds the declarations it leaves out. */
const DIRECTIVE_DEFINITIONS: Readonly<Record<string, string>> = {
  authorized: 'directive @authorized(roles: [String!]) on FIELD_DEFINITION | OBJECT',
  public: 'directive @public on FIELD_DEFINITION',
};

const SERVICE_QUERY = parse('query PortcullisServiceSdl { _service { sdl } }');
const INTROSPECTION_QUERY = parse(getIntrospectionQuery({ descriptions: true }));
const NO_HEADERS = { upstreamHeaders: new Map<string, Record<string, string>>() };

/** The SDL file named by UPSTREAM_SCHEMA_<NAME>. Throws an Error whose message names the file and the fix. */
export async function readSchemaFile(variable: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}); point it at a readable SDL file or unset it`);
  }
}

/**
 * Asks the upstream for `{ _service { sdl } }` (Apollo Federation subgraphs and many frameworks answer it,
 * directives included): the SDL, or undefined when the upstream answers GraphQL errors or no SDL, and the caller
 * decides whether introspection may stand in (fetchIntrospectionSdl). Throws the UpstreamFailure when the
 * upstream cannot be reached, so the caller retries later.
 */
export async function fetchServiceSdl(executor: Executor): Promise<UpstreamSdl | undefined> {
  const service = (await executor({ document: SERVICE_QUERY, context: NO_HEADERS })) as { data?: { _service?: { sdl?: unknown } } | null; errors?: readonly Error[] };
  const failure = service.errors?.map(upstreamFailureOf).find((found) => found !== undefined);
  if (failure) throw failure;
  const sdl = service.data?._service?.sdl;
  return typeof sdl === 'string' && sdl.trim() !== '' ? { text: sdl, source: 'service' } : undefined;
}

/** Standard introspection, printed as SDL: no directives survive it. Throws when it fails. */
export async function fetchIntrospectionSdl(executor: Executor): Promise<UpstreamSdl> {
  const introspection = (await executor({ document: INTROSPECTION_QUERY, context: NO_HEADERS })) as { data?: IntrospectionQuery | null; errors?: readonly Error[] };
  const introspectionFailure = introspection.errors?.map(upstreamFailureOf).find((found) => found !== undefined);
  if (introspectionFailure) throw introspectionFailure;
  if (!introspection.data) throw new Error(`introspection failed: ${introspection.errors?.[0]?.message ?? 'no data'}`);
  return { text: printSchema(buildClientSchema(introspection.data)), source: 'introspection' };
}

const KNOWN_DIRECTIVES = new Set([...specifiedDirectives.map((directive) => directive.name), ...Object.keys(DIRECTIVE_DEFINITIONS)]);

/**
 * What a federation subgraph's `_service` SDL needs before it builds as a plain schema: usages of directives it
 * neither declares nor the gateway knows (`@key`, `@link`, `@shareable` …) are dropped, a `extend schema` left
 * without operation types is dropped, and a type only ever extended (federation 1's `extend type Query`) becomes
 * its definition. None of these mean anything to the gateway, which reads only @authorized and @public.
 */
function forGateway(document: DocumentNode): DocumentNode {
  const declared = new Set(document.definitions.flatMap((definition) => (definition.kind === Kind.DIRECTIVE_DEFINITION ? [definition.name.value] : [])));
  const defined = new Set(document.definitions.flatMap((definition) => ('name' in definition && definition.name && !definition.kind.endsWith('Extension') ? [definition.name.value] : [])));
  const stripped = visit(document, {
    Directive: (node) => (KNOWN_DIRECTIVES.has(node.name.value) || declared.has(node.name.value) ? undefined : null),
  });
  const definitions: DefinitionNode[] = [];
  for (const definition of stripped.definitions) {
    if (definition.kind === Kind.SCHEMA_EXTENSION && !definition.operationTypes?.length) continue;
    if (definition.kind === Kind.OBJECT_TYPE_EXTENSION && !defined.has(definition.name.value)) {
      defined.add(definition.name.value);
      definitions.push({ ...definition, kind: Kind.OBJECT_TYPE_DEFINITION });
      continue;
    }
    definitions.push(definition);
  }
  return { ...stripped, definitions };
}

/**
 * Parses and builds an upstream's schema, declaring @authorized and @public when the SDL uses them without
 * declaring them. Throws an Error naming `where` (the variable and file, or the upstream) when it does not parse
 * or build.
 */
export function buildUpstreamSchema(where: string, text: string): { document: DocumentNode; schema: GraphQLSchema } {
  let document: DocumentNode;

  try {
    document = parse(text);
  } catch (error) {
    throw new Error(`${where}: the SDL does not parse (${(error as Error).message}); fix the SDL`);
  }
  document = forGateway(document);
  const declared = new Set(document.definitions.flatMap((definition) => (definition.kind === Kind.DIRECTIVE_DEFINITION ? [definition.name.value] : [])));
  const added: DefinitionNode[] = [];
  for (const [name, definition] of Object.entries(DIRECTIVE_DEFINITIONS)) {
    if (!declared.has(name)) added.push(...parse(definition).definitions);
  }
  const complete: DocumentNode = { ...document, definitions: [...document.definitions, ...added] };
  try {
    return { document: complete, schema: buildASTSchema(complete) };
  } catch (error) {
    throw new Error(`${where}: the SDL is not a valid schema (${(error as Error).message}); fix the SDL`);
  }
}
