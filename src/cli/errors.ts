// Errors the CLI turns into one line and an exit code.

/** Bad usage: unknown flag, bad value, bad config file. Exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = 2;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** A command failed for a reason the operator can act on. Exit code 1. */
export class CommandError extends Error {
  override name = "CommandError";
  readonly exitCode = 1;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
