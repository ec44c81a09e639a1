// The agent's side of the CNI plugins' per-run records (src/cni
// op_record.ts): it creates the file (which switches the records on), and
// every couple of seconds moves it aside, starts a fresh one, and turns
// each line into metrics and, for a failed ADD, a FailedCNIAdd event.
// Lines are validated and bounded: a bad line is skipped.

import { MAX_OPS_LOG, type OpRecord } from "../cni/mod.ts";
import { sleep } from "../util/async.ts";

const MAX_FIELD = 512;

function str(v: unknown, max = MAX_FIELD): string | undefined {
  return typeof v === "string" && v.length <= max ? v : undefined;
}

/** One record line, or null when it is not a valid record. */
export function parseOpRecord(line: string): OpRecord | null {
  if (line.length > 4096) return null;
  let v: Record<string, unknown>;
  try {
    const parsed = JSON.parse(line);
    if (typeof parsed !== "object" || parsed === null) return null;
    v = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  const plugin = str(v.plugin, 64);
  const command = str(v.command, 16);
  if (!plugin || !command || typeof v.ok !== "boolean") return null;
  const ms = typeof v.ms === "number" && Number.isFinite(v.ms) && v.ms >= 0
    ? v.ms
    : NaN;
  return {
    plugin,
    command,
    ok: v.ok,
    ms,
    containerId: str(v.containerId, 128),
    pod: str(v.pod, 507),
    error: str(v.error),
  };
}

/** Makes `path` exist (empty, 0600) so that plugins start recording. */
export async function enableOpsLog(path: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true });
  const f = await Deno.open(path, { create: true, append: true, mode: 0o600 });
  f.close();
}

/** Takes the records written so far (the file is replaced by an empty
 * one) and returns them. */
export async function drainOpsLog(path: string): Promise<OpRecord[]> {
  const aside = `${path}.draining`;
  try {
    if ((await Deno.stat(path)).size === 0) return [];
    await Deno.rename(path, aside);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  await enableOpsLog(path);
  // A plugin that opened the old file just before the move finishes its
  // one write into it well before we read it.
  await new Promise((r) => setTimeout(r, 20));
  let text = "";
  const f = await Deno.open(aside);
  try {
    const buf = new Uint8Array(MAX_OPS_LOG + 64 * 1024);
    let n = 0;
    while (n < buf.length) {
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    text = new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    f.close();
    await Deno.remove(aside).catch(() => {});
  }
  const out: OpRecord[] = [];
  for (const line of text.split("\n")) {
    const r = line ? parseOpRecord(line) : null;
    if (r) out.push(r);
  }
  return out;
}

/** Drains `path` every `everyMs` until `signal` aborts. */
export async function watchOpsLog(
  path: string,
  seen: (r: OpRecord) => void,
  signal: AbortSignal,
  log: (msg: string) => void,
  everyMs = 2000,
): Promise<void> {
  await enableOpsLog(path);
  while (!signal.aborted) {
    await sleep(everyMs, signal);
    try {
      for (const r of await drainOpsLog(path)) seen(r);
    } catch (e) {
      log(`CNI operation records: ${(e as Error).message}`);
    }
  }
}
