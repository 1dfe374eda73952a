import { describe, expect, it } from 'vitest';
import { createSlots } from '../../src/auth/slots.js';

/** A task that finishes only when released, recording how many tasks run at once. */
function gate(): { task: () => Promise<void>; release: () => void } {
  let release = (): void => {};
  const done = new Promise<void>((resolve) => (release = resolve));
  return { task: () => done, release };
}

describe('createSlots()', () => {
  it('runs at most `size` tasks at once and starts the next as one finishes, in arrival order', async () => {
    const slots = createSlots(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, gate);
    const runs = gates.map((g, index) =>
      slots.run(async () => {
        started.push(index);
        running++;
        peak = Math.max(peak, running);
        await g.task();
        running--;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    gates[1]!.release();
    await runs[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1, 2]);
    for (const g of gates) g.release();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
  });

  it('frees the slot when a task fails', async () => {
    const slots = createSlots(1);
    await expect(slots.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(slots.run(async () => 'next')).resolves.toBe('next');
  });
});
