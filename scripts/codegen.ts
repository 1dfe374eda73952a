/**
 * Typed operations (TypedDocumentNode) for the tests, as codegen.yml describes them: what `graphql-codegen` (the
 * CLI) did, with @graphql-codegen/core and the same plugins, for the same output. The CLI is not used: its
 * loaders (URL, GitHub, Apollo Engine), listr2 and sync-fetch want Node 22.12 to 22.15 and made every install on
 * Node 20 warn EBADENGINE, only to read two local files. With --check it writes nothing and fails when an
 * output is stale.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codegen } from '@graphql-codegen/core';
import { getDocumentNodeFromSchema } from '@graphql-tools/utils';
import { buildASTSchema, lexicographicSortSchema, parse } from 'graphql';
import { parse as parseYaml } from 'yaml';

type CodegenPlugin = Parameters<typeof codegen>[0]['pluginMap'][string];

interface CodegenConfig {
  schema: string;
  documents: string;
  generates: Record<string, { plugins: Array<string | Record<string, Record<string, unknown>>>; config?: Record<string, unknown> }>;
}

const root = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));
const config = parseYaml(readFileSync(root('codegen.yml'), 'utf8')) as CodegenConfig;

// Sorted, as the CLI loads schemas: enum values and fields come out in the order it gave them.
const schemaAst = lexicographicSortSchema(buildASTSchema(parse(readFileSync(root(config.schema), 'utf8'))));
const schema = getDocumentNodeFromSchema(schemaAst);

/** `dir/*.graphql` only: the one form codegen.yml uses (a wider glob would need a glob library). */
const pattern = /^([^*]+)\/\*(\.[a-z]+)$/.exec(config.documents);
if (!pattern?.[1] || !pattern[2]) throw new Error(`codegen.yml: documents must look like dir/*.graphql, got ${config.documents}`);
const [, folder, extension] = pattern;
const documents = readdirSync(root(folder))
  .filter((name) => name.endsWith(extension))
  .sort()
  .map((name) => {
    const location = root(`${folder}/${name}`);
    return { location, document: parse(readFileSync(location, 'utf8')) };
  });

let stale = 0;
for (const [output, target] of Object.entries(config.generates)) {
  const plugins = target.plugins.map((plugin) => (typeof plugin === 'string' ? { [plugin]: {} } : plugin));
  const pluginMap: Record<string, CodegenPlugin> = {};
  for (const plugin of plugins) {
    for (const name of Object.keys(plugin)) pluginMap[name] = (await import(`@graphql-codegen/${name}`)) as CodegenPlugin;
  }
  const generated = await codegen({ filename: root(output), schema, schemaAst, documents, config: target.config ?? {}, plugins, pluginMap });
  if (!process.argv.includes('--check')) {
    writeFileSync(root(output), generated);
    console.log(`wrote ${output}`);
    continue;
  }
  let committed = '';
  try {
    committed = readFileSync(root(output), 'utf8');
  } catch {
    // Missing counts as stale.
  }
  if (committed === generated) {
    console.log(`${output} is up to date.`);
  } else {
    console.error(`${output} is out of date with ${config.schema} and ${dirname(config.documents)}/ (${basename(config.documents)}). Run \`npm run schema:emit\` and commit the result.`);
    stale++;
  }
}
if (stale > 0) process.exit(1);
