// The demo's connectivity matrix: every pod to every pod on other nodes,
// every pod to every node, and the server to each agent through its tunnel.

import { exec } from "./proc.ts";

export interface Check {
  kind: "pod-pod" | "pod-node" | "tunnel";
  from: string;
  to: string;
  run: () => Promise<string | null>; // null = ok, else why not
}

export interface CheckResult {
  check: Check;
  error: string | null;
}

/** ping from a netns; null when answered. */
export async function ping(netns: string, ip: string): Promise<string | null> {
  const r = await exec([
    "ip",
    "netns",
    "exec",
    netns,
    "ping",
    "-n",
    "-q",
    "-c",
    "1",
    "-W",
    "2",
    ip,
  ]);
  return r.code === 0 ? null : `no answer from ${ip}`;
}

/** Runs checks with bounded concurrency. */
export async function runChecks(
  checks: Check[],
  parallel = 6,
): Promise<CheckResult[]> {
  const results: CheckResult[] = new Array(checks.length);
  let next = 0;
  const worker = async () => {
    while (next < checks.length) {
      const i = next++;
      let error: string | null;
      try {
        error = await checks[i].run();
      } catch (e) {
        error = (e as Error).message;
      }
      results[i] = { check: checks[i], error };
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(parallel, checks.length) }, worker),
  );
  return results;
}

export interface Summary {
  ok: number;
  total: number;
  byKind: Record<Check["kind"], { ok: number; total: number }>;
  failures: CheckResult[];
}

export function summarize(results: CheckResult[]): Summary {
  const byKind = {
    "pod-pod": { ok: 0, total: 0 },
    "pod-node": { ok: 0, total: 0 },
    "tunnel": { ok: 0, total: 0 },
  };
  for (const r of results) {
    byKind[r.check.kind].total++;
    if (r.error === null) byKind[r.check.kind].ok++;
  }
  const failures = results.filter((r) => r.error !== null);
  return {
    ok: results.length - failures.length,
    total: results.length,
    byKind,
    failures,
  };
}

export function summaryLine(s: Summary): string {
  const k = s.byKind;
  return `${s.ok}/${s.total} ok — pod↔pod ${k["pod-pod"].ok}/${
    k["pod-pod"].total
  }, ` +
    `pod→node ${k["pod-node"].ok}/${k["pod-node"].total}, ` +
    `server→agent tunnel ${k.tunnel.ok}/${k.tunnel.total}`;
}
