// What a long-running task gets from whoever runs it (the supervisor, a
// test): defined here, at the bottom of the dependency table, so the
// supervisor and every task folder (flannel, tunnel, api) share one type.
// No imports: safe on the CNI start path.

/** What a task gets: `{ signal, ready, log }`. */
export interface TaskContext {
  /** Aborted when the supervisor stops the task. */
  signal: AbortSignal;
  /** Call once serving / programmed. */
  ready: () => void;
  /** One line, prefixed with time, level and the task name. */
  log: (msg: string) => void;
}
