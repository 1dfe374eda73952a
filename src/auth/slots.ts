/**
 * At most `size` tasks at once; the rest wait in arrival order. Used for password hashes: each argon2id hash
 * keeps a core busy for tens of milliseconds, and with as many in flight as there are cores a login storm leaves
 * the event loop no core, so every other request waits. One core stays free by default
 * (PASSWORD_HASH_CONCURRENCY); further logins queue here instead.
 */
export function createSlots(size: number): { run<T>(task: () => Promise<T>): Promise<T> } {
  let busy = 0;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (busy >= size) await new Promise<void>((resolve) => waiting.push(resolve));
      else busy++;
      try {
        return await task();
      } finally {
        // Hand the slot straight to the next waiter, so `busy` never drops and rises again in between.
        const next = waiting.shift();
        if (next) next();
        else busy--;
      }
    },
  };
}
