import { describe, expect, it } from 'vitest';
import { cleanDataAnswerEnd } from '../../src/upstreams/pass-through.js';

/** What the general path writes for an upstream answer it parsed: Apollo's JSON.stringify of { data } and a newline. */
function generalPathBody(text: string): string {
  const parsed = JSON.parse(text) as { data: unknown };
  return `${JSON.stringify({ data: parsed.data })}\n`;
}

/** A small deterministic generator of JSON values of the kinds GraphQL answers hold (and JSON scalars may). */
function randomValue(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 4 ? 6 : 8));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return Math.floor(next() * 2 ** 40) * (next() < 0.3 ? -1 : 1);
    case 3:
      return (next() - 0.5) * 10 ** Math.floor(next() * 30 - 10);
    case 4:
    case 5:
      return Array.from({ length: Math.floor(next() * 6) }, () => String.fromCharCode(...Array.from({ length: Math.floor(next() * 8) }, () => Math.floor(next() * 0x2100)))).join('');
    case 6:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 4); i > 0; i--) object[`f${Math.floor(next() * 100)}_${i}`] = randomValue(next, depth + 1);
      return object;
    }
  }
}

describe('the pass-through proof that an upstream answer is clean', () => {
  it('accepts what JSON.stringify writes for { data: {…} } and then promises exactly the bytes the general path would write', () => {
    let seed = 42;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let accepted = 0;
    for (let round = 0; round < 2000; round++) {
      const data: Record<string, unknown> = { products: randomValue(next, 0), product: randomValue(next, 0) };
      const text = JSON.stringify({ data });
      const end = cleanDataAnswerEnd(text);
      if (end > 0) {
        accepted++;
        expect(`${text.slice(0, end)}\n`).toBe(generalPathBody(text));
      } else {
        // Only control characters (written as \u00XX) are left to the parse.
        expect(text).toMatch(/\\u/);
      }
    }
    expect(accepted).toBeGreaterThan(1500);
  });

  it.each([
    ['an upstream error after data', '{"data":{"a":1},"errors":[{"message":"x"}]}'],
    ['errors before data', '{"errors":[{"message":"x"}],"data":{"a":1}}'],
    ['extensions beside data', '{"data":{"a":1},"extensions":{"cost":1}}'],
    ['a key spelled with an escape', '{"data":{"a":1},"\\u0065rrors":[]}'],
    ['data null', '{"data":null}'],
    ['whitespace', '{"data": {"a":1}}'],
    ['whitespace inside', '{"data":{"a": 1}}'],
    ['a cut-off answer', '{"data":{"product":{"name":"Prod'],
    ['a missing brace', '{"data":{"a":1}'],
    ['a trailing comma', '{"data":{"a":1,}}'],
    ['garbage after the value', '{"data":{"a":1}}x'],
    ['a bare word', '{"data":{"a":nope}}'],
    ['a duplicate key', '{"data":{"a":1,"a":2}}'],
    ['an integer-like key, which V8 would reorder', '{"data":{"b":1,"1":2}}'],
    ['a \\u escape', '{"data":{"a":"\\u00e9"}}'],
    ['an escaped slash', '{"data":{"a":"a\\/b"}}'],
    ['a raw control character', '{"data":{"a":"a\u0001b"}}'],
    ['1.0', '{"data":{"a":1.0}}'],
    ['-0', '{"data":{"a":-0}}'],
    ['an exponent JavaScript would not write', '{"data":{"a":1e5}}'],
    ['a leading zero', '{"data":{"a":01}}'],
    ['a huge number', '{"data":{"a":1e999}}'],
    ['a leading plus', '{"data":{"a":+1}}'],
    ['nesting deeper than the check follows', `{"data":{"a":${'['.repeat(80)}${']'.repeat(80)}}}`],
  ])('sends %s to the parse', (_name, text) => {
    expect(cleanDataAnswerEnd(text)).toBe(-1);
  });

  it.each([
    ['a plain answer', '{"data":{"a":1}}'],
    ['a trailing newline (Apollo writes one)', '{"data":{"a":[1,2.5,-3,true,false,null,"x\\"y\\n"]}}\n'],
    ['an empty data object', '{"data":{}}'],
    ['text that only mentions errors', '{"data":{"note":"\\"errors\\":[] and extensions"}}'],
  ])('passes %s as it came', (_name, text) => {
    const end = cleanDataAnswerEnd(text);
    expect(end).toBeGreaterThan(0);
    expect(`${text.slice(0, end)}\n`).toBe(generalPathBody(text));
  });
});
