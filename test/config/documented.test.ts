import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config/config.js';

const read = (name: string): string => readFileSync(new URL(`../../${name}`, import.meta.url), 'utf8');

/** A variable, or a pattern of variables such as UPSTREAM_SCHEMA_<NAME> (one per upstream). */
const NAME = '[A-Z][A-Z0-9_]*(?:<[A-Z]+>[A-Z0-9_]*)?';

describe('configuration documentation', () => {
  it('lists every variable in .env.example, and nothing else', () => {
    // A pattern is shown commented out: a line `UPSTREAM_SCHEMA_<NAME>=` would not be a valid variable.
    const plain = [...read('.env.example').matchAll(new RegExp(`^(${NAME})=`, 'gm'))].map((match) => match[1]);
    const patterns = [...read('.env.example').matchAll(/^# ([A-Z][A-Z0-9_]*<[A-Z]+>[A-Z0-9_]*)=/gm)].map((match) => match[1]);
    expect([...plain, ...patterns].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('lists every variable in the configuration table (docs/configuration.md), and nothing else', () => {
    const listed = [...read('docs/configuration.md').matchAll(new RegExp(`^\\| \`(${NAME})\` \\|`, 'gm'))].map((match) => match[1]);
    expect([...listed].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });
});
