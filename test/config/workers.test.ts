import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { configProblems, testConfig } from '../support/config.js';

const problemsFor = (value: string): readonly string[] => configProblems(() => testConfig({ WORKERS: value }));

describe('WORKERS', () => {
  it('is one process when unset or blank', () => {
    expect(testConfig({}).workers).toBe(1);
    expect(testConfig({ WORKERS: ' ' }).workers).toBe(1);
  });

  it('takes a count, and auto as the available cores', () => {
    expect(testConfig({ WORKERS: '2' }).workers).toBe(2);
    expect(testConfig({ WORKERS: 'auto' }).workers).toBe(availableParallelism());
  });

  it.each(['0', '-1', '1.5', 'two', '257', '2e1'])('refuses %s with how to fix it', (value) => {
    const problems = problemsFor(value);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^WORKERS: .*auto/);
  });
});
