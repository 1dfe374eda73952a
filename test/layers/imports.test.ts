/**
 * The layering of docs (GUIDE, "Data flows one way"), read from the source: what each part may import. The
 * import statements are read as text (static `import`/`export … from`, bare `import '…'` and `import('…')`),
 * type-only imports included: a layer hands the next its own types, never a store's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMPORT = /(?:\bimport|\bexport)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files;
}

/** What a file imports: repository paths (`src/…/x.ts`) for relative specifiers, package names otherwise. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2];
    if (specifier === undefined) continue;
    if (!specifier.startsWith('.')) {
      found.push(specifier);
      continue;
    }
    found.push(relative(ROOT, resolve(join(ROOT, dirname(file)), specifier)).replace(/\.js$/, '.ts'));
  }
  return found;
}

/** Every file reachable from `entry` through relative imports, and every package any of them imports. */
function closure(entries: readonly string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const imported of importsOf(file)) {
      if (imported.startsWith('src/')) queue.push(imported);
      else packages.add(imported);
    }
  }
  return { files, packages };
}

describe('source layering', () => {
  it('finds the imports it checks (the reader sees relative and package imports)', () => {
    const imports = importsOf('src/graphql/format-error.ts');
    expect(imports).toContain('src/errors.ts');
    expect(imports).toContain('graphql');
  });

  it('keeps graphql/ out of stores/: database errors and records reach it through auth/', () => {
    const offending = sourceFiles('src/graphql').flatMap((file) => importsOf(file).filter((imported) => imported.startsWith('src/stores/')).map((imported) => `${file} → ${imported}`));
    expect(offending).toEqual([]);
  });

  it('keeps live/ out of stores/: sessions reach it as auth/ views, not store records', () => {
    const offending = sourceFiles('src/live').flatMap((file) => importsOf(file).filter((imported) => imported.startsWith('src/stores/')).map((imported) => `${file} → ${imported}`));
    expect(offending).toEqual([]);
  });

  it('keeps the published portcullis/upstream free of the gateway’s server parts', () => {
    const { files, packages } = closure(sourceFiles('src/upstream'));
    expect(files).toContain('src/errors.ts');
    const servers = [...files].filter((file) => /^src\/(?:stores|auth|graphql|http|upstreams|mail)\/|^src\/(?:app|main|logger)\.ts$|^src\/config\/config\.ts$/.test(file));
    expect(servers).toEqual([]);
    expect([...packages].filter((name) => /^(?:mongoose|mongodb|express|@apollo\/server|type-graphql)(?:\/|$)/.test(name))).toEqual([]);
  });
});
