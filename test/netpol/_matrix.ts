// The truth table of the network policy tests: every pod probes every other
// pod on TCP and UDP ports 80 and 81, over IPv4 and IPv6, and the answers
// are compared with what a case expects.

import type { PodNode, Target, TestPod } from "./_pods.ts";

export interface Probe {
  from: TestPod;
  to: TestPod;
  fam: 4 | 6;
  proto: "tcp" | "udp";
  port: number;
}

export type Expect = (p: Probe) => boolean;

const id = (p: TestPod) => `${p.spec.namespace}/${p.spec.name}`;

/** The probes that disagree with `expect`, one line each (empty: all agree). */
export async function mismatches(
  node: PodNode,
  expect: Expect,
  pods: TestPod[] = node.pods,
): Promise<string[]> {
  // Probes run inside the source pod: any node's probe() will do.
  const rows = await Promise.all(pods.map(async (from) => {
    const probes: Probe[] = [];
    for (const to of pods) {
      if (to === from) continue;
      for (const fam of [4, 6] as const) {
        for (const proto of ["tcp", "udp"] as const) {
          for (const port of [80, 81]) {
            probes.push({ from, to, fam, proto, port });
          }
        }
      }
    }
    const targets: Target[] = probes.map((p) => [
      p.fam === 4 ? p.to.ip4 : p.to.ip6,
      p.proto,
      p.port,
    ]);
    const got = await node.probe(from, targets);
    return probes.flatMap((p, i) =>
      got[i] === expect(p) ? [] : [
        `${id(p.from)} -> ${id(p.to)} v${p.fam} ${p.proto}/${p.port}: ${
          got[i] ? "allowed" : "denied"
        }, expected ${expect(p) ? "allowed" : "denied"}`,
      ]
    );
  }));
  return rows.flat();
}
