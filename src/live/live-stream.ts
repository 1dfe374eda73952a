import type { ExecutionResult } from 'graphql';

export interface LiveStream extends AsyncIterableIterator<ExecutionResult> {
  /** Drops whatever is queued, sends `last` (if any), completes, and ends the source. Idempotent. */
  end(last?: ExecutionResult): void;
}

export interface LiveStreamOptions {
  /** Events queued for a client that reads slower than they come; past it `onOverflow` runs and the stream ends. */
  readonly maxBuffered: number;
  readonly onOverflow: () => void;
  /** Runs once, however the stream ended (client, source, registry). */
  readonly onEnd: () => void;
}

/**
 * Wraps an operation's event source so that the registry can end it at any moment, and so that a slow client
 * cannot make memory grow: the source is read as fast as it produces into a bounded queue, and the transport
 * takes from the queue as fast as the client reads. Written by hand: graphql-ws and graphql-sse pull from the
 * iterator one event per send and leave both the bound and the outside "end now" to the server.
 */
export function liveStream(source: AsyncIterable<ExecutionResult>, options: LiveStreamOptions): LiveStream {
  const iterator = source[Symbol.asyncIterator]();
  const queue: ExecutionResult[] = [];
  let done = false;
  let ended = false;
  let waiting: ((result: IteratorResult<ExecutionResult>) => void) | undefined;

  const finish = (): void => {
    if (ended) return;
    ended = true;
    done = true;
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
    options.onEnd();
  };
  const deliver = (): void => {
    if (!waiting) return;
    const resolve = waiting;
    const value = queue.shift();
    if (value !== undefined) {
      waiting = undefined;
      resolve({ value, done: false });
    } else if (done) {
      waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  };

  const stream: LiveStream = {
    [Symbol.asyncIterator](): LiveStream {
      return stream;
    },
    next(): Promise<IteratorResult<ExecutionResult>> {
      const value = queue.shift();
      if (value !== undefined) return Promise.resolve({ value, done: false });
      if (done) {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      }
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return(): Promise<IteratorResult<ExecutionResult>> {
      queue.length = 0;
      done = true;
      deliver();
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    end(last?: ExecutionResult): void {
      if (done) {
        finish();
        return;
      }
      queue.length = 0;
      if (last) queue.push(last);
      done = true;
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      deliver();
      // The client still takes `last` (if any); finish runs when it reads the end, or here when nothing is left.
      if (queue.length === 0) finish();
    },
  };
  // Reads the source into the queue as fast as it produces, up to the bound.
  void (async () => {
    try {
      while (!done) {
        const step = await iterator.next();
        if (done) return;
        if (step.done) break;
        if (queue.length >= options.maxBuffered) {
          queue.length = 0;
          options.onOverflow();
          stream.end();
          return;
        }
        queue.push(step.value);
        deliver();
      }
    } catch {
      // A failing source ends like a finished one; the operation's own code turns failures into events first.
    }
    done = true;
    deliver();
    if (queue.length === 0) finish();
  })();

  return stream;
}
