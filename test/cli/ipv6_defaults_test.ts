// The CLI's IPv6 defaults: node-ip detection on IPv6-only and dual-stack
// hosts (the cluster's primary family first), the server's own URLs
// (bracketed; [::1] for an IPv6-primary cluster), the join line of
// `weft token show`, and --cluster-dns derived from an IPv6 service CIDR.

import {
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { defaultClusterDNS, resolveConfig } from "../../src/cli/config.ts";
import { UsageError } from "../../src/cli/errors.ts";
import {
  detectNodeIPs,
  NodeIPError,
  primaryFamily,
} from "../../src/cli/node_ip.ts";
import {
  joinURL,
  joinURLFile,
  localServerURL,
} from "../../src/cli/server_url.ts";
import { registerNode } from "../../src/cli/node_register.ts";
import { KubeClient } from "../../src/kube/mod.ts";
import { testServer } from "../api/_server.ts";
import { Netns } from "../harness/netns.ts";
import { runWeft } from "../harness/weft.ts";

/** eth0 (a veth) in `ns` with the given addresses and default routes. */
async function uplink(ns: Netns, v4?: string, v6?: string): Promise<void> {
  await ns.sh(
    "ip",
    "link",
    "add",
    "eth0",
    "type",
    "veth",
    "peer",
    "name",
    "x0",
  );
  await ns.sh("ip", "link", "set", "eth0", "up");
  await ns.sh("ip", "link", "set", "x0", "up");
  if (v4) {
    await ns.sh("ip", "addr", "add", `${v4}/24`, "dev", "eth0");
    await ns.sh("ip", "route", "add", "default", "dev", "eth0");
  }
  if (v6) {
    await ns.sh("ip", "addr", "add", `${v6}/64`, "dev", "eth0", "nodad");
    await ns.sh("ip", "-6", "route", "add", "default", "via", "fd77::fe");
  }
}

Deno.test("detectNodeIPs(): an IPv6-only host gives its IPv6 address; none at all is a clear error", async () => {
  await using ns = await Netns.create("nip6");
  assertThrows(
    () => detectNodeIPs({ netns: ns.path }),
    NodeIPError,
    "pass --node-ip",
  );
  await uplink(ns, undefined, "fd77::2");
  assertEquals(detectNodeIPs({ netns: ns.path }), ["fd77::2"]);
  assertEquals(detectNodeIPs({ netns: ns.path, primary: 6 }), ["fd77::2"]);
});

Deno.test("detectNodeIPs(): a dual-stack host lists the cluster's primary family first", async () => {
  await using ns = await Netns.create("nipds");
  await uplink(ns, "192.0.2.7", "fd77::7");
  assertEquals(detectNodeIPs({ netns: ns.path }), ["192.0.2.7", "fd77::7"]);
  assertEquals(detectNodeIPs({ netns: ns.path, primary: 6 }), [
    "fd77::7",
    "192.0.2.7",
  ]);
  assertEquals(primaryFamily(["fd42::/56", "10.42.0.0/16"]), 6);
  assertEquals(primaryFamily(["10.42.0.0/16", "fd42::/56"]), 4);
  assertEquals(primaryFamily([]), 4);
});

Deno.test("localServerURL() and joinURL(): brackets, loopback of the primary family, a specific bind address wins", () => {
  const v4 = { bindAddress: "0.0.0.0", clusterCIDR: ["10.42.0.0/16"] };
  const v6 = { bindAddress: "0.0.0.0", clusterCIDR: ["fd42::/56"] };
  const v6first = {
    bindAddress: "::",
    clusterCIDR: ["fd42::/56", "10.42.0.0/16"],
  };
  assertEquals(localServerURL(v4, 6443), "https://127.0.0.1:6443");
  assertEquals(localServerURL(v6, 6443), "https://[::1]:6443");
  assertEquals(localServerURL(v6first, 6443), "https://[::1]:6443");
  assertEquals(
    localServerURL(
      { bindAddress: "fd77::1", clusterCIDR: ["fd42::/56"] },
      7443,
    ),
    "https://[fd77::1]:7443",
  );
  assertEquals(joinURL(v6, ["fd77::1"], 6443), "https://[fd77::1]:6443");
  assertEquals(
    joinURL(v4, ["192.0.2.1", "fd77::1"], 6443),
    "https://192.0.2.1:6443",
  );
  assertEquals(joinURL(v4, [], 6443), null);
  assertEquals(
    joinURL({ bindAddress: "fd77::9" }, ["fd77::1"], 6443),
    "https://[fd77::9]:6443",
  );
});

Deno.test("--cluster-dns defaults to the 10th address of the first service CIDR", async () => {
  assertEquals(defaultClusterDNS(["10.43.0.0/16"]), "10.43.0.10");
  assertEquals(defaultClusterDNS(["fd43::/112"]), "fd43::a");
  assertEquals(defaultClusterDNS(["fd43::/112", "10.43.0.0/16"]), "fd43::a");
  assertEquals(defaultClusterDNS([]), "10.43.0.10");
  const base = {
    command: "server" as const,
    env: {},
    readFile: () => null,
  };
  const v6 = await resolveConfig({
    ...base,
    args: ["--cluster-cidr", "fd42::/56", "--service-cidr", "fd43::/112"],
  });
  assertEquals(v6.clusterDNS, "fd43::a");
  const given = await resolveConfig({
    ...base,
    args: ["--service-cidr", "fd43::/112", "--cluster-dns", "fd43::53"],
  });
  assertEquals(given.clusterDNS, "fd43::53");
});

Deno.test("weft token show prints the join command with the recorded (bracketed) URL; a bad file is ignored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-token6-" });
  try {
    await Deno.mkdir(`${dir}/server`);
    await Deno.writeTextFile(`${dir}/server/token`, "K10abc::server:s1\n");
    await Deno.writeTextFile(`${dir}/server/agent-token`, "K10abc::node:s2\n");
    await Deno.writeTextFile(joinURLFile(dir), "https://[fd77::1]:6443\n");
    const ok = await runWeft(["token", "show", "--data-dir", dir]);
    assertEquals(ok.code, 0, ok.stderr);
    assertStringIncludes(
      ok.stdout,
      "join: weft agent --server https://[fd77::1]:6443 --token 'K10abc::node:s2'\n",
    );
    await Deno.writeTextFile(joinURLFile(dir), "x; rm -rf /\n");
    const bad = await runWeft(["token", "show", "--data-dir", dir]);
    assertEquals(bad.code, 0, bad.stderr);
    assertEquals(bad.stdout.includes("join:"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registerNode(): a dual-stack node keeps both InternalIPs, IPv6 first, also when registering again", async () => {
  await using s = await testServer({ hostname: "::1" });
  using client = new KubeClient({
    server: `https://[::1]:${s.server.port}`,
    caPem: s.tls.caPem,
    token: "admin-token",
  });
  const input = {
    name: "ds",
    internalIPs: ["fd77::2", "10.250.0.12"],
    externalIPs: [],
    egressMode: "agent" as const,
  };
  for (let i = 0; i < 2; i++) {
    const node = await registerNode(client, input);
    assertEquals(
      node.status?.addresses?.map((a) => `${a.type} ${a.address}`),
      ["InternalIP fd77::2", "InternalIP 10.250.0.12", "Hostname ds"],
    );
  }
});

Deno.test("weft agent --server with an unbracketed IPv6 address says to bracket it", async () => {
  const err = await assertRejects(
    () =>
      resolveConfig({
        command: "agent",
        args: ["--server", "https://fd77::1:6443", "--token", "t"],
        env: {},
        readFile: () => null,
      }),
    UsageError,
  );
  assertStringIncludes(err.message, "https://[fd77::1]:6443");
  const ok = await resolveConfig({
    command: "agent",
    args: ["--server", "https://[fd77::1]:6443", "--token", "t"],
    env: {},
    readFile: () => null,
  });
  assertEquals(ok.server, "https://[fd77::1]:6443");
});
