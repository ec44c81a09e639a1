// One line per event: `<RFC 3339 time> <level> <task>: <message>`.

export type Level = "info" | "warn" | "error";

/** Where the supervisor and its tasks write their lines. */
export type Logger = (level: Level, task: string, message: string) => void;

/** Formats one log line; `now` is injectable for tests. */
export function formatLine(
  level: Level,
  task: string,
  message: string,
  now: Date = new Date(),
): string {
  const oneLine = message.replace(/\s*\n\s*/g, " | ");
  return `${now.toISOString()} ${
    level.toUpperCase().padEnd(5)
  } ${task}: ${oneLine}`;
}

/** The default logger: stderr, one line per event. */
export const stderrLogger: Logger = (level, task, message) => {
  console.error(formatLine(level, task, message));
};
