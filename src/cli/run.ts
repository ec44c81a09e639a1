// Small pieces shared by `weft server` and `weft agent`.

import type { Context, Hono } from "hono";
import { releaseStartupMemory } from "../../ffi/mod.ts";
import type { Identity } from "../api/auth/mod.ts";
import type { Logger, Supervisor, TaskStatus } from "../supervisor/mod.ts";
import { sleep } from "../util/async.ts";
import type { WeftConfig } from "./config.ts";
import { CommandError } from "./errors.ts";

export const READYZ_PATH = "/v1-weft/readyz";

/** The join token: --token, else the contents of --token-file, else none. */
export async function tokenOf(cfg: WeftConfig): Promise<string | undefined> {
  if (cfg.token || !cfg.tokenFile) return cfg.token;
  try {
    return (await Deno.readTextFile(cfg.tokenFile)).trim();
  } catch (e) {
    throw new CommandError(
      `cannot read --token-file ${cfg.tokenFile}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/**
 * A `GET path` route, for `createApp({ extraRoutes })`, that answers callers
 * `authenticate` does not know with a 401 Kubernetes Status.
 */
export function authenticatedGet(
  path: string,
  authenticate: (req: Request) => Promise<Identity | null>,
  handler: (c: Context) => Response,
): (app: Hono) => void {
  return (app) => {
    app.get(path, async (c) => {
      if (!(await authenticate(c.req.raw))) {
        return c.json({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401,
        }, 401);
      }
      return handler(c);
    });
  };
}

/**
 * `GET /v1-weft/readyz`: every task's readiness (the plain /readyz of the
 * API answers 200 only when all are ready). 503 while any is not.
 */
export function readinessRoutes(
  status: () => TaskStatus[],
  authenticate: (req: Request) => Promise<Identity | null>,
): (app: Hono) => void {
  return authenticatedGet(READYZ_PATH, authenticate, (c) => {
    const tasks = status();
    const ready = tasks.length > 0 && tasks.every((t) => t.ready);
    return c.json({ ready, tasks }, ready ? 200 : 503);
  });
}

/** How often a running server or agent gives memory back. */
export const TRIM_EVERY_MS = 30_000;

/**
 * Keeps a long-running process lean until `signal` aborts: once every task
 * has been ready (start-up is over), gives the kernel back the executable's
 * pages only start-up used, and logs how much; from then on, every
 * TRIM_EVERY_MS, a full garbage collection (when V8 exposes gc(), see
 * memory.ts), malloc's free pages and, again, the executable's clean pages.
 * The code a process runs changes over its life (start-up, the first CNI
 * operation, a NetworkPolicy's controller, a scrape): released once, the
 * pages of what ran after start-up and never again would stay resident for
 * good. Released every period, the executable's share of the RSS is the
 * code used within the last one (~20 MB of Deno's binary for an agent; a
 * page used again is mapped back from the page cache, a minor fault).
 */
export async function tendMemory(
  sup: Supervisor,
  signal: AbortSignal,
  logger: Logger,
  who: string,
): Promise<void> {
  await sup.waitReady(signal);
  if (signal.aborted) return;
  const r = releaseStartupMemory();
  if (r.executable > 0) {
    logger(
      "info",
      who,
      `started; unmapped the executable's ${
        (r.executable / 1048576).toFixed(1)
      } MB of start-up pages (what is still used maps back)`,
    );
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  while (!signal.aborted) {
    await sleep(TRIM_EVERY_MS, signal);
    if (signal.aborted) break;
    gc?.();
    releaseStartupMemory();
  }
}
