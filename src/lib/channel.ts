/**
 * An unbounded async queue: producers `push`, one consumer iterates with `for await`.
 * Used for the outgoing side of gRPC streams, where writes are produced by timers and
 * callbacks rather than by a single loop.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;
  private markClosed: () => void = () => undefined;
  /** Resolves once the channel is closed. */
  readonly whenClosed: Promise<void> = new Promise((resolve) => (this.markClosed = resolve));

  /** Number of items queued and not yet taken. */
  get size(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queue an item. Returns false (and drops it) once the channel is closed. */
  push(item: T): boolean {
    if (this.closed) return false;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter({ value: item, done: false });
    } else {
      this.items.push(item);
    }
    return true;
  }

  /** End the stream after the queued items are taken. */
  close(): void {
    this.closed = true;
    this.markClosed();
    const waiter = this.waiter;
    if (waiter && this.items.length === 0) {
      this.waiter = undefined;
      waiter({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      return: () => {
        this.close();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      // Connect's stream writers end an input iterable through throw(); treat it as close.
      throw: () => {
        this.close();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
