// The supervisor: internal tasks, dependency order, restart with backoff,
// readiness, bounded reverse-order stop.
export {
  dependencyOrder,
  Supervisor,
  SupervisorError,
  type SupervisorOptions,
  type TaskContext,
  TaskExitedError,
  type TaskSpec,
  type TaskState,
  type TaskStatus,
} from "./supervisor.ts";
export { Backoff, type BackoffOptions } from "./backoff.ts";
export { formatLine, type Level, type Logger, stderrLogger } from "./log.ts";
