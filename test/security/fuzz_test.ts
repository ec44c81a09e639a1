// Issue 11 deliverable 6: bounded, seeded fuzzing of every parser an
// outsider can reach — CNI config and environment, net-conf.json,
// config.yaml, the tunnel frame decoder, patch documents, label/field
// selectors, and the API's request path end to end. Each parser gets a
// fixed number of mutated inputs (well under 20 s in all); every failure
// must be that parser's typed error or a valid result. The seed is printed:
// WEFT_FUZZ_SEED=<seed> replays a run.

import { assertEquals } from "@std/assert";
import { ApiError } from "../../src/api/errors.ts";
import { applyPatch } from "../../src/api/patch.ts";
import { mergeKeysOf } from "../../src/api/openapi/mod.ts";
import { NODES, PODS } from "../../src/api/resources.ts";
import { fieldSelector, labelSelector } from "../../src/api/selectors.ts";
import { parseBridgeConf } from "../../src/cni/bridge/mod.ts";
import { parseLimits } from "../../src/cni/bandwidth/mod.ts";
import {
  buildDelegate,
  flannelConf,
} from "../../src/cni/flannel/delegate_conf.ts";
import { parseSubnetEnv } from "../../src/cni/flannel/subnet_env.ts";
import { loadConfig } from "../../src/cni/host_local/mod.ts";
import {
  CniError,
  CURRENT_VERSION,
  type PluginContext,
} from "../../src/cni/plugin.ts";
import { parsePortmapConf } from "../../src/cni/portmap/config.ts";
import { parseConfig } from "../../src/cni/skel.ts";
import {
  parseCniArgs,
  validateContainerId,
  validateIfname,
} from "../../src/cni/validate.ts";
import {
  requireSupported,
  requireVerb,
  resultFor,
  upgradeResult,
} from "../../src/cni/version.ts";
import { resolveConfig } from "../../src/cli/config.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { NetConfError } from "../../src/flannel/errors.ts";
import { parseNetConf } from "../../src/flannel/netconf.ts";
import { FrameError } from "../../src/tunnel/errors.ts";
import { decodeFrame, encodeFrame } from "../../src/tunnel/frame.ts";
import { node, testApi } from "../api/_fixture.ts";
import {
  fuzz,
  type FuzzReport,
  iterations,
  mutateBytes,
  mutateInput,
  mutateText,
  runSeed,
} from "./_fuzz.ts";

const SEED = runSeed();
console.log(
  `fuzz seed ${SEED} (replay: WEFT_FUZZ_SEED=${SEED} deno test -A test/security/fuzz_test.ts)`,
);

function report(r: FuzzReport): void {
  console.log(
    `fuzz ${r.name}: seed ${r.seed}, ${r.runs} inputs, ${r.ms} ms, ${r.failures.length} untyped failures`,
  );
  // One example per distinct error (numbers and quoted values blurred).
  const kinds = new Map<string, (typeof r.failures)[number]>();
  for (const f of r.failures) {
    const k = f.error.replace(/"[^"]*"|\d+/g, "_").slice(0, 80);
    if (!kinds.has(k)) kinds.set(k, f);
  }
  assertEquals(
    [...kinds.values()].slice(0, 8),
    [],
    `${r.name}: ${r.failures.length} inputs threw something other than the typed error (seed ${r.seed})`,
  );
}

const fuzzText = (seeds: string[], json: boolean) => (rng: Rng, s: string) =>
  mutateInput(rng, s, seeds, json);
type Rng = Parameters<typeof mutateText>[0];

// ---------------------------------------------------------------- CNI

const CNI_CONFS = [
  {
    cniVersion: "1.0.0",
    name: "hl",
    type: "host-local",
    ipam: {
      type: "host-local",
      dataDir: "/tmp/none",
      ranges: [[{ subnet: "10.9.0.0/24", rangeStart: "10.9.0.10" }], [{
        subnet: "fd00::/64",
      }]],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "10.0.0.0/8", gw: "10.9.0.1" }],
    },
    args: { cni: { ips: ["10.9.0.20"] } },
    runtimeConfig: { ips: ["10.9.0.21/24"] },
  },
  {
    cniVersion: "0.3.1",
    name: "cbr0",
    type: "bridge",
    bridge: "cni0",
    isGateway: true,
    ipMasq: true,
    mtu: 1450,
    hairpinMode: true,
    ipam: { type: "host-local", subnet: "10.42.1.0/24" },
  },
  {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    delegate: { hairpinMode: true, forceAddress: true, isDefaultGateway: true },
    subnetFile: "/run/flannel/subnet.env",
  },
  {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "portmap",
    snat: true,
    capabilities: { portMappings: true },
    runtimeConfig: {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    },
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/x" }],
      ips: [{ address: "10.42.1.5/24", gateway: "10.42.1.1", interface: 0 }],
      routes: [{ dst: "0.0.0.0/0" }],
      dns: {},
    },
  },
  {
    cniVersion: "0.4.0",
    name: "cbr0",
    type: "bandwidth",
    runtimeConfig: {
      bandwidth: { ingressRate: 1000000, ingressBurst: 100000 },
    },
    prevResult: {
      cniVersion: "0.2.0",
      ip4: { ip: "10.42.1.5/24", gateway: "10.42.1.1" },
      dns: {},
    },
  },
].map((c) => JSON.stringify(c));

const CNI_ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc123",
  CNI_IFNAME: "eth0",
  CNI_NETNS: "/var/run/netns/x",
  CNI_PATH: "/opt/cni/bin",
  CNI_ARGS:
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;IP=10.9.0.30",
};

const SUBNET_ENV =
  "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\n" +
  "FLANNEL_IPV6_NETWORK=fd42::/56\nFLANNEL_IPV6_SUBNET=fd42:0:0:1::1/64\n" +
  "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

interface CniInput {
  conf: string;
  env: Record<string, string>;
  subnetEnv: string;
}

const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"];

/** What the skeleton and each plugin parse before touching the system. */
function cniParse(input: CniInput): void {
  const env = input.env;
  const cmd = env.CNI_COMMAND ?? "";
  if (!COMMANDS.includes(cmd)) return; // the skeleton refuses it (code 4)
  const config = parseConfig(new TextEncoder().encode(input.conf), "bridge");
  const attempt = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof CniError)) throw e;
    }
  };
  attempt(() => validateContainerId(env.CNI_CONTAINERID ?? ""));
  attempt(() => validateIfname(env.CNI_IFNAME ?? ""));
  attempt(() => requireSupported(config.cniVersion));
  attempt(() => requireVerb(cmd, config.cniVersion));
  let args: Record<string, string> = {};
  attempt(() => args = parseCniArgs(env.CNI_ARGS ?? ""));
  if (config.prevResult !== undefined && config.prevResult !== null) {
    // The skeleton upgrades prevResult before any plugin sees it.
    config.prevResult = upgradeResult(config.prevResult);
    resultFor(config.prevResult, CURRENT_VERSION);
  }
  const ctx: PluginContext = {
    command: cmd as PluginContext["command"],
    containerId: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args,
    path: [],
    config,
    env,
  };
  attempt(() => loadConfig(ctx));
  attempt(() => parseBridgeConf(structuredClone(config), args));
  attempt(() => parsePortmapConf(structuredClone(config), ctx.ifname));
  attempt(() => parseLimits(structuredClone(config)));
  attempt(() => {
    const fc = flannelConf(structuredClone(config));
    buildDelegate(config, fc, parseSubnetEnv(input.subnetEnv, "subnet.env"));
  });
}

Deno.test("fuzz: CNI config, environment and subnet.env raise only CniError", async () => {
  const seeds: CniInput[] = CNI_CONFS.map((conf) => ({
    conf,
    env: { ...CNI_ENV },
    subnetEnv: SUBNET_ENV,
  }));
  const envPool = [...Object.values(CNI_ENV), ...CNI_CONFS.slice(0, 1)];
  report(
    await fuzz({
      name: "cni",
      seed: SEED,
      count: iterations(3000),
      seeds,
      mutate: (rng, s) => {
        const out = { ...s, env: { ...s.env } };
        const what = rng.int(10);
        if (what < 6) out.conf = mutateInput(rng, s.conf, CNI_CONFS, true);
        else if (what < 9) {
          const k = rng.pick(Object.keys(CNI_ENV));
          out.env[k] = mutateText(rng, s.env[k], envPool);
        } else {out.subnetEnv = mutateInput(
            rng,
            s.subnetEnv,
            [SUBNET_ENV],
            false,
          );}
        return out;
      },
      check: cniParse,
      typed: (e) => e instanceof CniError,
    }),
  );
});

// ---------------------------------------------------------------- flannel

const NET_CONFS = [
  { Network: "10.42.0.0/16", Backend: { Type: "vxlan", VNI: 1, Port: 8472 } },
  {
    Network: "10.42.0.0/16",
    IPv6Network: "2001:cafe:42::/56",
    EnableIPv6: true,
    SubnetLen: 24,
    IPv6SubnetLen: 64,
    Backend: {
      Type: "wireguard",
      PersistentKeepaliveInterval: 25,
      Mode: "separate",
    },
  },
  {
    EnableIPv4: false,
    EnableIPv6: true,
    IPv6Network: "fd42::/56",
    Backend: { Type: "host-gw" },
  },
  {
    network: "10.42.0.0/16",
    subnetMin: "10.42.1.0",
    subnetMax: "10.42.200.0",
    backend: { type: "none" },
  },
].map((c) => JSON.stringify(c));

Deno.test("fuzz: net-conf.json raises only NetConfError", async () => {
  report(
    await fuzz({
      name: "netconf",
      seed: SEED,
      count: iterations(4000),
      seeds: NET_CONFS,
      mutate: fuzzText(NET_CONFS, true),
      check: parseNetConf,
      typed: (e) => e instanceof NetConfError,
    }),
  );
});

// ---------------------------------------------------------------- config.yaml

const CONFIG_YAMLS = [
  "cluster-cidr: 10.42.0.0/16\nservice-cidr: 10.43.0.0/16\nflannel-backend: vxlan\n" +
  "node-name: edge-1\ntls-san:\n  - a.example.com\n  - 10.0.0.1\nhttps-listen-port: 6443\n",
  'server: "https://10.0.0.1:6443"\ntoken: "K10abc::node:secret"\nnode-ip: 10.0.0.2,fd00::2\n' +
  "flannel-iface: eth0\negress-selector-mode: pod\ndisable-agent: false\n",
  '# comment\ndata-dir: /var/lib/weft\nwrite-kubeconfig-mode: "0644"\ncluster-cidr:\n  - 10.42.0.0/16\n  - fd42::/56\n',
];

Deno.test("fuzz: config.yaml raises only UsageError", async () => {
  report(
    await fuzz({
      name: "config.yaml",
      seed: SEED,
      count: iterations(2500),
      seeds: CONFIG_YAMLS,
      mutate: fuzzText(CONFIG_YAMLS, false),
      check: async (text) => {
        for (const command of ["server", "agent"] as const) {
          try {
            await resolveConfig({
              command,
              args: [],
              env: {},
              readFile: () => text,
              hostname: () => "fuzz",
            });
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
          }
        }
      },
      typed: (e) => e instanceof UsageError,
    }),
  );
});

// ---------------------------------------------------------------- tunnel

const FRAMES = [
  encodeFrame({ type: "connect", id: 1, target: "tcp/10.42.1.5:8080" }),
  encodeFrame({
    type: "data",
    id: 7,
    data: new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
  }),
  encodeFrame({ type: "close", id: 7 }),
  encodeFrame({ type: "error", id: 9, message: "connection refused" }),
  encodeFrame({ type: "pause", id: 2 }),
  encodeFrame({ type: "resume", id: 2 }),
  encodeFrame({ type: "sync", ids: [1, 2, 0xffffffff] }),
  encodeFrame({ type: "ping" }),
];

Deno.test("fuzz: the tunnel frame decoder raises only FrameError", async () => {
  report(
    await fuzz({
      name: "frame",
      seed: SEED,
      count: iterations(4000),
      seeds: FRAMES,
      mutate: (rng, b) => {
        let out = mutateBytes(rng, b, FRAMES);
        if (rng.chance(0.3)) out = mutateBytes(rng, out, FRAMES);
        return out;
      },
      check: (b) => {
        const f = decodeFrame(b);
        // What decodes encodes again to the same bytes.
        const again = encodeFrame(f);
        if (again.length !== b.length || again.some((x, i) => x !== b[i])) {
          throw new Error(`${f.type} frame does not encode to its bytes`);
        }
      },
      typed: (e) => e instanceof FrameError,
    }),
  );
});

// ---------------------------------------------------------------- API

const NODE = {
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name: "edge-1",
    labels: { "kubernetes.io/hostname": "edge-1" },
    annotations: { "flannel.alpha.coreos.com/backend-type": "vxlan" },
    finalizers: ["a"],
  },
  spec: { podCIDR: "10.42.1.0/24", podCIDRs: ["10.42.1.0/24"] },
  status: {
    addresses: [{ type: "InternalIP", address: "10.0.0.2" }],
    conditions: [{ type: "Ready", status: "True" }],
  },
};

const PATCHES: [string, string][] = [
  ["application/merge-patch+json", {
    metadata: { labels: { a: "b", "kubernetes.io/hostname": null } },
  }],
  ["application/strategic-merge-patch+json", {
    status: {
      conditions: [{ type: "Ready", status: "False" }, {
        type: "X",
        $patch: "delete",
      }],
    },
    metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] },
  }],
  ["application/strategic-merge-patch+json", {
    spec: { $patch: "replace", unschedulable: true },
  }],
  ["application/json-patch+json", [
    { op: "add", path: "/metadata/labels/x", value: "1" },
    { op: "replace", path: "/spec/podCIDRs/0", value: "10.42.2.0/24" },
    { op: "move", from: "/metadata/labels/x", path: "/metadata/labels/y" },
    { op: "copy", from: "/status", path: "/metadata/annotations/s" },
    { op: "remove", path: "/status/conditions/0" },
    { op: "test", path: "/kind", value: "Node" },
  ]],
].map(([t, p]) => [t as string, JSON.stringify(p)]);

Deno.test("fuzz: patch documents raise only ApiError", async () => {
  const bodies = PATCHES.map(([, b]) => b);
  report(
    await fuzz({
      name: "patch",
      seed: SEED,
      count: iterations(5000),
      seeds: PATCHES,
      mutate: (rng, [type, body]): [string, string] => [
        rng.chance(0.05)
          ? rng.pick([
            "",
            "text/plain",
            "application/json-patch+json; charset=utf-8",
          ])
          : type,
        mutateInput(rng, body, bodies, true),
      ],
      check: ([type, body]) => {
        for (const def of [NODES, PODS]) {
          applyPatch(
            type,
            structuredClone(NODE) as never,
            body,
            mergeKeysOf(def),
          );
        }
      },
      typed: (e) => e instanceof ApiError,
    }),
  );
});

const SELECTORS = [
  "app=web,tier!=db",
  "env in (prod, staging),!canary",
  "kubernetes.io/hostname==edge-1",
  "a notin (x),b",
  "metadata.name=edge-1,spec.unschedulable!=true",
];

Deno.test("fuzz: label and field selectors raise only ApiError", async () => {
  const labels: Record<string, string>[] = [
    {},
    { app: "web", env: "prod", "kubernetes.io/hostname": "edge-1" },
    { constructor: "x" },
  ];
  report(
    await fuzz({
      name: "selectors",
      seed: SEED,
      count: iterations(3000),
      seeds: SELECTORS,
      mutate: fuzzText(SELECTORS, false),
      check: (text) => {
        let err: unknown;
        try {
          const sel = labelSelector(text);
          for (const l of labels) {
            sel((k) => Object.hasOwn(l, k) ? l[k] : undefined);
          }
        } catch (e) {
          err = e;
        }
        const f = fieldSelector(text, NODES.fields);
        f((k) => k === "metadata.name" ? "edge-1" : "");
        if (err) throw err;
      },
      typed: (e) => e instanceof ApiError,
    }),
  );
});

Deno.test("fuzz: the API answers hostile bodies, patches and paths with a Status below 500", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  assertEquals(
    (await api.call("POST", "/api/v1/nodes", node("edge-1"))).status,
    201,
  );
  const bodies = [JSON.stringify(NODE), ...PATCHES.map(([, b]) => b)];
  const paths = [
    "/api/v1/nodes/edge-1",
    "/api/v1/nodes?labelSelector=a%3Db&watch=0&limit=5",
    "/api/v1/namespaces/default/pods/web",
    "/api/v1/nodes/edge-1/status",
  ];
  type Req = { method: string; path: string; type: string; body: string };
  const seeds: Req[] = [
    {
      method: "POST",
      path: "/api/v1/nodes",
      type: "application/json",
      body: bodies[0],
    },
    {
      method: "PUT",
      path: paths[0],
      type: "application/json",
      body: bodies[0],
    },
    ...PATCHES.map(([type, body]) => ({
      method: "PATCH",
      path: paths[0],
      type,
      body,
    })),
    {
      method: "POST",
      path: "/api/v1/namespaces/default/pods",
      type: "application/json",
      body: JSON.stringify({
        metadata: { name: "web" },
        spec: { nodeName: "edge-1" },
      }),
    },
    { method: "GET", path: paths[1], type: "", body: "" },
  ];
  report(
    await fuzz({
      name: "api",
      seed: SEED,
      count: iterations(600),
      seeds,
      mutate: (rng, r) => {
        const out = { ...r };
        if (r.method === "GET" || rng.chance(0.15)) {
          out.path = mutateText(rng, r.path, paths).replace(/[#?]?$/, "");
        } else out.body = mutateInput(rng, r.body, bodies, true);
        return out;
      },
      check: async (r) => {
        let url: URL;
        try {
          url = new URL(r.path, "http://x");
        } catch {
          return; // not a URL a client could send
        }
        const res = await api.app.request(url.pathname + url.search, {
          method: r.method,
          headers: {
            authorization: "Bearer admin-token",
            "content-type": r.type,
          },
          body: r.method === "GET" ? undefined : r.body,
        });
        const text = await res.text();
        if (res.status >= 500) {
          throw new Error(
            `${r.method} ${url.pathname}: ${res.status} ${text.slice(0, 200)}`,
          );
        }
      },
      typed: () => false,
    }),
  );
});
