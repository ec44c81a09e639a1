// `weft doctor [--fix] [--netns PATH] [--data-dir D] [--json]`: checks this
// machine (or a network namespace) for what weft needs, one line per check
// with a one-line fix; --fix repairs what it can. Exit 1 when a check fails.

import { parseArgs } from "@std/cli/parse-args";
import { UsageError } from "../errors.ts";
import {
  checkBridgeNf,
  checkChecksumOffload,
  checkCniConfigs,
  checkCniLinks,
  checkIpForward,
  checkKernel,
  checkLibnl,
  type CheckResult,
  checkVxlanMtu,
  type DoctorEnv,
  nodeFamilies,
} from "./checks.ts";

export type { CheckResult, DoctorEnv, Verdict } from "./checks.ts";

export const DOCTOR_HELP =
  `Usage: weft doctor [--fix] [--netns PATH] [--data-dir D] [--json]

Checks: libnl present; kernel vxlan, bridge, netfilter NAT; wireguard-go;
IPv4 and IPv6 forwarding (for the families the node's pods use, from
/run/flannel/subnet.env or the default routes); bridge-nf-call-iptables;
the VXLAN UDP checksum offload hazard (k3s#2013) on flannel.1 (and
flannel-v6.1); their MTU against the uplink (- 50, - 70 over IPv6); conflicting CNI
configs in <data-dir>/agent/etc/cni/net.d; stale CNI plugin links in
<data-dir>/data/cni. Each problem comes with a one-line fix.

Flags:
  --fix           apply the fixes that can be applied (sysctls, ethtool, MTU, links)
  --netns PATH    check inside this network namespace (e.g. /run/netns/x)
  --data-dir D    weft's data dir (default $WEFT_DATA_DIR or /var/lib/weft)
  --json          print the results as JSON
  --skip-kernel   skip the kernel feature probes`;

export async function runDoctor(
  env: DoctorEnv,
  o: { kernel?: boolean } = {},
): Promise<CheckResult[]> {
  const families = await nodeFamilies(env);
  const out = [
    await checkLibnl(env),
    ...(o.kernel === false ? [] : await checkKernel()),
    await checkIpForward(env, 4, families),
    await checkIpForward(env, 6, families),
    await checkBridgeNf(env),
  ];
  // flannel.1 carries IPv4 pods, flannel-v6.1 IPv6 pods (over IPv6).
  for (const f of [4, 6] as const) {
    if (f === 6 && !families.includes(6)) continue;
    out.push(await checkChecksumOffload(env, f), await checkVxlanMtu(env, f));
  }
  out.push(await checkCniConfigs(env), await checkCniLinks(env));
  return out;
}

function line(r: CheckResult): string {
  const tag = { ok: "ok  ", warn: "WARN", fail: "FAIL" }[r.verdict];
  return `${tag} ${r.name}: ${r.detail}${r.fix ? `\n     fix: ${r.fix}` : ""}`;
}

export async function doctorCommand(args: string[]): Promise<number> {
  let unknown: string | undefined;
  const p = parseArgs(args, {
    string: ["netns", "data-dir"],
    boolean: ["fix", "json", "help", "skip-kernel"],
    unknown: (arg: string) => {
      unknown ??= arg.split("=")[0];
      return false;
    },
  }) as {
    netns?: string;
    "data-dir"?: string;
    fix: boolean;
    json: boolean;
    help: boolean;
    "skip-kernel": boolean;
  };
  if (unknown) {
    throw new UsageError(
      `weft doctor: unknown flag or argument ${unknown}; see "weft doctor --help"`,
    );
  }
  if (p.help) {
    console.log(DOCTOR_HELP);
    return 0;
  }
  if (p.netns !== undefined) {
    try {
      Deno.statSync(p.netns);
    } catch (e) {
      throw new UsageError(
        `weft doctor: invalid value "${p.netns}" for flag --netns: no such file`,
        { cause: e },
      );
    }
  }
  const env: DoctorEnv = {
    netns: p.netns || undefined,
    dataDir: p["data-dir"] || Deno.env.get("WEFT_DATA_DIR") || "/var/lib/weft",
    vxlanDev: "flannel.1",
  };
  let results = await runDoctor(env, { kernel: !p["skip-kernel"] });
  const done: string[] = [];
  if (p.fix) {
    for (const r of results) {
      if (r.verdict === "ok" || !r.repair) continue;
      try {
        done.push(`fixed: ${await r.repair()}`);
      } catch (e) {
        done.push(`could not fix ${r.name}: ${(e as Error).message}`);
      }
    }
    if (done.length) {
      results = await runDoctor(env, { kernel: !p["skip-kernel"] });
    }
  }
  if (p.json) {
    console.log(JSON.stringify({
      fixed: done,
      results: results.map(({ name, verdict, detail, fix }) => ({
        name,
        verdict,
        detail,
        fix,
      })),
    }));
  } else {
    for (const d of done) console.log(d);
    for (const r of results) console.log(line(r));
  }
  return results.some((r) => r.verdict === "fail") ? 1 : 0;
}
