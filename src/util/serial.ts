// A serial queue: jobs run one at a time in the order they were queued; a
// job's failure goes to its caller and does not stop the queue.

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `job` after every job queued before it; resolves with its result. */
  run<T>(job: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(job);
    this.#tail = result.catch(() => {});
    return result;
  }
}
