import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIR = fileURLToPath(new URL('../../src/upstreams/', import.meta.url));

/** Every import cycle among the part's files, as 'a.ts -> b.ts -> a.ts' (relative imports only). */
function importCycles(): string[] {
  const files = readdirSync(DIR).filter((file) => file.endsWith('.ts'));
  const edges = new Map(files.map((file) => [file, [...readFileSync(`${DIR}${file}`, 'utf8').matchAll(/from '\.\/([\w-]+)\.js'/g)].map((match) => `${match[1]}.ts`)]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, stack: string[]): void => {
    if (state.get(file) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(file)), file].join(' -> '));
      return;
    }
    if (state.get(file) === 'done') return;
    state.set(file, 'open');
    for (const target of edges.get(file) ?? []) visit(target, [...stack, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  return cycles;
}

describe('src/upstreams', () => {
  it('imports one way: the types module at the bottom, the public surface on top, no file importing back', () => {
    expect(importCycles()).toEqual([]);
  });
});
