// Event-loop lag: a timer that should fire every `everyMs` records how late
// it fired. Unref'd, so it never keeps a process alive.

import { eventLoopLag } from "./weft.ts";

/** Samples the lag until `signal` aborts. */
export function monitorEventLoopLag(signal: AbortSignal, everyMs = 500): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const due = performance.now() + everyMs;
    const t = setTimeout(() => {
      eventLoopLag.observe(
        undefined,
        Math.max(0, performance.now() - due) / 1000,
      );
      if (!signal.aborted) arm();
    }, everyMs);
    Deno.unrefTimer(t);
    timer = t;
  };
  if (signal.aborted) return;
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  arm();
}
