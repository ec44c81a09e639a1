import { assertEquals, assertRejects } from "@std/assert";
import { clusterConfigOf } from "../../src/cli/cluster_config.ts";
import { resolveConfig } from "../../src/cli/config.ts";
import { UsageError } from "../../src/cli/errors.ts";

const noFile = () => null;
const host = () => "Edge-1";

Deno.test("server defaults match K3s's", async () => {
  const c = await resolveConfig({
    command: "server",
    args: [],
    env: {},
    readFile: noFile,
    hostname: host,
  });
  assertEquals(c.clusterCIDR, ["10.42.0.0/16"]);
  assertEquals(c.serviceCIDR, ["10.43.0.0/16"]);
  assertEquals(c.clusterDNS, "10.43.0.10");
  assertEquals(c.clusterDomain, "cluster.local");
  assertEquals(c.flannelBackend, "vxlan");
  assertEquals(c.egressSelectorMode, "agent");
  assertEquals(c.dataDir, "/var/lib/weft");
  assertEquals(c.writeKubeconfig, "/etc/weft/weft.yaml");
  assertEquals(c.writeKubeconfigMode, 0o600);
  assertEquals(c.httpsListenPort, 6443);
  assertEquals(c.nodeName, "edge-1");
  assertEquals(c.disableAgent, false);
  assertEquals(c.disableNetworkPolicy, false);
  assertEquals(c.configFile, undefined);
});

Deno.test("--disable-network-policy (K3s's name) is a server flag that agents take from the cluster config", async () => {
  const c = await resolveConfig({
    command: "server",
    args: ["--disable-network-policy"],
    env: {},
    readFile: noFile,
    hostname: host,
  });
  assertEquals(c.disableNetworkPolicy, true);
  assertEquals(clusterConfigOf(c).disableNetworkPolicy, true);
  await assertRejects(
    () =>
      resolveConfig({
        command: "agent",
        args: [
          "--server",
          "https://10.0.0.1:6443",
          "--token",
          "t",
          "--disable-network-policy",
        ],
        env: {},
        readFile: noFile,
        hostname: host,
      }),
    UsageError,
    "unknown flag --disable-network-policy",
  );
});

Deno.test("config precedence: file < environment < flag", async () => {
  const file = [
    "data-dir: /from/file",
    "node-name: file-node",
    "cluster-cidr:",
    "  - 10.10.0.0/16",
    "  - fd00:10::/56",
    "flannel-backend: host-gw",
    "disable-agent: true",
  ].join("\n");
  const c = await resolveConfig({
    command: "server",
    args: ["--node-name", "flag-node", "--config", "/x/config.yaml"],
    env: { WEFT_DATA_DIR: "/from/env", WEFT_NODE_NAME: "env-node" },
    readFile: (p) => p === "/x/config.yaml" ? file : null,
    hostname: host,
  });
  assertEquals(c.nodeName, "flag-node");
  assertEquals(c.dataDir, "/from/env");
  assertEquals(c.clusterCIDR, ["10.10.0.0/16", "fd00:10::/56"]);
  assertEquals(c.flannelBackend, "host-gw");
  assertEquals(c.disableAgent, true);
  assertEquals(c.configFile, "/x/config.yaml");
  assertEquals(c.sources["node-name"], "flag");
  assertEquals(c.sources["data-dir"], "env");
  assertEquals(c.sources["flannel-backend"], "file");
  assertEquals(c.sources["cluster-dns"], "default");
});

Deno.test("the config file path comes from WEFT_CONFIG_FILE and a flag overrides a file boolean", async () => {
  const c = await resolveConfig({
    command: "server",
    args: [
      "--disable-agent=false",
      "--tls-san",
      "a.example",
      "--tls-san=b.example,c.example",
    ],
    env: { WEFT_CONFIG_FILE: "/e/c.yaml" },
    readFile: (p) => p === "/e/c.yaml" ? "disable-agent: true\n" : null,
    hostname: host,
  });
  assertEquals(c.disableAgent, false);
  assertEquals(c.tlsSAN, ["a.example", "b.example", "c.example"]);
  assertEquals(c.configFile, "/e/c.yaml");
});

Deno.test("agent reads WEFT_URL and WEFT_TOKEN", async () => {
  const c = await resolveConfig({
    command: "agent",
    args: [],
    env: { WEFT_URL: "https://10.0.0.1:6443", WEFT_TOKEN: "K10abc::node:s" },
    readFile: noFile,
    hostname: host,
  });
  assertEquals(c.server, "https://10.0.0.1:6443");
  assertEquals(c.token, "K10abc::node:s");
});

Deno.test("an unknown flag is one line naming it", async () => {
  await assertRejects(
    () =>
      resolveConfig({
        command: "server",
        args: ["--cluster-cidrs", "10.0.0.0/8"],
        env: {},
        readFile: noFile,
      }),
    UsageError,
    'weft server: unknown flag --cluster-cidrs; see "weft server --help"',
  );
  await assertRejects(
    () =>
      resolveConfig({
        command: "agent",
        args: ["--disable-agent"],
        env: {},
        readFile: noFile,
      }),
    UsageError,
    "unknown flag --disable-agent",
  );
});

/** `weft server` with these flags, env and config file text is refused with `msg`. */
async function bad(
  args: string[],
  env: Record<string, string>,
  msg: string,
  file?: string,
) {
  await assertRejects(
    () =>
      resolveConfig({
        command: "server",
        args,
        env,
        readFile: () => file ?? null,
      }),
    UsageError,
    msg,
  );
}

Deno.test("a bad value names the flag, the env var or the config key", async () => {
  await bad(
    ["--cluster-cidr", "10.42.0.0/33"],
    {},
    'invalid value "10.42.0.0/33" for flag --cluster-cidr: is not a CIDR',
  );
  await bad(
    ["--flannel-backend", "udp"],
    {},
    'invalid value "udp" for flag --flannel-backend: must be one of vxlan, host-gw, wireguard-native, none',
  );
  await bad(
    ["--https-listen-port", "99999"],
    {},
    "for flag --https-listen-port",
  );
  await bad(
    ["--egress-selector-mode", "all"],
    {},
    "for flag --egress-selector-mode",
  );
  await bad(
    [],
    { WEFT_DATASTORE_ENDPOINT: "etcd://x" },
    "environment WEFT_DATASTORE_ENDPOINT",
  );
  await bad(
    [],
    {},
    'config file key "cluster-dns"',
    "cluster-dns: not-an-ip\n",
  );
  await bad(["--node-name"], {}, "flag --node-name needs a value");
  await bad(["serve"], {}, 'unexpected argument "serve"');
});

Deno.test("a bad config file names the key and its line", async () => {
  await bad(
    [],
    {},
    'config file /etc/weft/config.yaml line 3: unknown key "flannel-bakend"',
    "node-name: a\n\nflannel-bakend: vxlan\n",
  );
  await bad(
    [],
    {},
    'line 2: key "disable-agent" must be true or false, got "maybe"',
    "node-name: a\ndisable-agent: maybe\n",
  );
  await bad(
    [],
    {},
    "config file /etc/weft/config.yaml line",
    "node-name: a\ncluster-cidr: [10.0.0.0/8\n",
  );
  await bad(
    ["--config", "/nope.yaml"],
    {},
    "config file /nope.yaml does not exist",
  );
});

Deno.test("agent without --server or token says what is missing", async () => {
  await assertRejects(
    () =>
      resolveConfig({ command: "agent", args: [], env: {}, readFile: noFile }),
    UsageError,
    "--server (or WEFT_URL) is required",
  );
  await assertRejects(
    () =>
      resolveConfig({
        command: "agent",
        args: ["--server", "https://1.2.3.4:6443"],
        env: {},
        readFile: noFile,
      }),
    UsageError,
    "--token or --token-file",
  );
});
