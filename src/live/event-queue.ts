/** A push-driven async iterable for one subscriber; `return()` (the consumer leaving) runs `onClose` once. */
export interface EventQueue<T> extends AsyncIterableIterator<T> {
  push(value: T): void;
}

export function eventQueue<T>(onClose: () => void): EventQueue<T> {
  const pending: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let closed = false;
  const queue: EventQueue<T> = {
    [Symbol.asyncIterator]: () => queue,
    push(value: T): void {
      if (closed) return;
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value, done: false });
      } else pending.push(value);
    },
    next(): Promise<IteratorResult<T>> {
      const value = pending.shift();
      if (value !== undefined) return Promise.resolve({ value, done: false });
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return(): Promise<IteratorResult<T>> {
      if (!closed) {
        closed = true;
        pending.length = 0;
        waiting?.({ value: undefined, done: true });
        waiting = undefined;
        onClose();
      }
      return Promise.resolve({ value: undefined, done: true });
    },
  };
  return queue;
}
