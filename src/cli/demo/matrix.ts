// The demo's connectivity matrix: every pod to every pod on other nodes,
// every pod to every node, and the server to each agent through its tunnel.

import { joinHostPort } from "../../net/mod.ts";
import type { Pod } from "./cluster.ts";
import { exec, type Output } from "./proc.ts";
import { RESPONDER_PORT } from "./responder.ts";
import { type Family, familyOf } from "./stack.ts";
import type { DemoNode } from "./topology.ts";

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

/**
 * A TCP exchange from a netns to a responder (curl, HTTP/1.0); null when
 * `want` answered. With `sourceIP`, the responder must have seen that
 * source address: the pod's own across the overlay (no NAT), its node's
 * on the underlay (masqueraded).
 */
export async function tcpCheck(
  netns: string,
  ip: string,
  port: number,
  want: string,
  sourceIP?: string,
): Promise<string | null> {
  const r = await exec([
    "ip",
    "netns",
    "exec",
    netns,
    "curl",
    "-sS",
    "--max-time",
    "3",
    `http://${joinHostPort(ip, port)}/`,
  ]);
  if (r.code !== 0) {
    return `no TCP answer from ${joinHostPort(ip, port)}: ${r.stderr.trim()}`;
  }
  const [name, seen] = r.stdout.trim().split(" ");
  if (name !== want) {
    return `${
      joinHostPort(ip, port)
    } answered as "${name}", expected "${want}"`;
  }
  if (sourceIP && seen !== sourceIP) {
    return `${want} saw the connection from ${seen}, expected ${sourceIP}`;
  }
  return null;
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

/**
 * The checks of a cluster: each pod to each pod on other nodes and to each
 * node, once per address family the cluster has (dual-stack: both), and
 * the server (the first node) to each node through its tunnel.
 */
export function clusterChecks(
  pods: Pod[],
  nodes: DemoNode[],
  families: Family[],
  kubectl: (server: DemoNode, ...args: string[]) => Promise<Output>,
): Check[] {
  const out: Check[] = [];
  const dual = families.length > 1;
  const tag = (ip: string) => dual ? ` (IPv${familyOf(ip)})` : "";
  const sameFamily = (ips: string[], ip: string) =>
    ips.find((x) => familyOf(x) === familyOf(ip));
  for (const from of pods) {
    for (const src of from.ips) {
      for (const to of pods) {
        const dst = sameFamily(to.ips, src);
        if (from.node === to.node || !dst) continue;
        out.push({
          kind: "pod-pod",
          from: from.name,
          to: `${to.name}${tag(dst)}`,
          run: () => tcpCheck(from.netns, dst, RESPONDER_PORT, to.name, src),
        });
      }
      for (const node of nodes) {
        const dst = sameFamily(node.ips, src);
        if (!dst) continue;
        out.push({
          kind: "pod-node",
          from: from.name,
          to: `${node.name}${tag(dst)}`,
          // Another node's underlay address is outside the cluster CIDR:
          // flannel's ip-masq rewrites the source to the pod's node.
          run: () =>
            tcpCheck(
              from.netns,
              dst,
              RESPONDER_PORT,
              node.name,
              node === from.node ? undefined : sameFamily(from.node.ips, src),
            ),
        });
      }
    }
  }
  const server = nodes[0];
  for (const node of nodes) {
    out.push({
      kind: "tunnel",
      from: server.name,
      to: node.name,
      run: async () => {
        const r = await kubectl(
          server,
          "get",
          "--raw",
          `/api/v1/nodes/${node.name}/proxy/status`,
        );
        if (r.code !== 0) return (r.stderr || r.stdout).trim().split("\n")[0];
        return r.stdout.includes(node.name)
          ? null
          : `unexpected status: ${r.stdout.slice(0, 120)}`;
      },
    });
  }
  return out;
}
