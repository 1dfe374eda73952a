import { readFile } from 'node:fs/promises';
import type { Executor } from '@graphql-tools/utils';
import {
  buildASTSchema,
  buildClientSchema,
  getIntrospectionQuery,
  Kind,
  parse,
  printSchema,
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
 * Asks the upstream for its SDL: `{ _service { sdl } }` first (Apollo Federation subgraphs and many frameworks
 * answer it, directives included), then standard introspection. Throws the UpstreamFailure when the upstream
 * cannot be reached, so the caller retries later.
 */
export async function fetchUpstreamSdl(executor: Executor): Promise<UpstreamSdl> {
  const service = (await executor({ document: SERVICE_QUERY, context: NO_HEADERS })) as { data?: { _service?: { sdl?: unknown } } | null; errors?: readonly Error[] };
  const failure = service.errors?.map(upstreamFailureOf).find((found) => found !== undefined);
  if (failure) throw failure;
  const sdl = service.data?._service?.sdl;
  if (typeof sdl === 'string' && sdl.trim() !== '') return { text: sdl, source: 'service' };
  const introspection = (await executor({ document: INTROSPECTION_QUERY, context: NO_HEADERS })) as { data?: IntrospectionQuery | null; errors?: readonly Error[] };
  const introspectionFailure = introspection.errors?.map(upstreamFailureOf).find((found) => found !== undefined);
  if (introspectionFailure) throw introspectionFailure;
  if (!introspection.data) throw new Error(`introspection failed: ${introspection.errors?.[0]?.message ?? 'no data'}`);
  return { text: printSchema(buildClientSchema(introspection.data)), source: 'introspection' };
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
