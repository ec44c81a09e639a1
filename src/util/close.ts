// Closing what may already be closed. No imports: safe on the CNI start
// path.

/** Closes `resource`, ignoring the error of one already closed. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
