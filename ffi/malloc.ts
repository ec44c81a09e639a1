// Giving freed C heap memory back to the system. glibc keeps what many
// short-lived allocations freed (TLS state of closed connections, ...) in
// its arenas; malloc_trim(0) returns every whole free page of them.

import { libs } from "./_lib.ts";

/** Returns the C heap's free pages to the system (glibc); false where that
 * is not available (no malloc_trim, no libc.so.6). */
export function releaseFreeMemory(): boolean {
  try {
    const trim = libs().c.malloc_trim;
    if (!trim) return false;
    trim(0n);
    return true;
  } catch {
    return false;
  }
}
