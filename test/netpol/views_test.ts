// What the controller keeps of Pods and Namespaces (slimPod, slimNamespace)
// gives the compiler the same views as the whole objects, and leaves the
// rest out.

import { assertEquals } from "@std/assert";
import type { Pod } from "../../src/kube/mod.ts";
import {
  type Namespace,
  namespaceView,
  podView,
  slimNamespace,
  slimPod,
} from "../../src/netpol/mod.ts";

const full: Pod = {
  metadata: {
    name: "web-1",
    namespace: "shop",
    uid: "u-1",
    resourceVersion: "42",
    labels: { app: "web", tier: "front" },
    annotations: { "kubectl.kubernetes.io/last-applied": "x".repeat(4096) },
    managedFields: [{ manager: "kubectl", fieldsV1: { f: {} } }],
  } as Pod["metadata"],
  spec: {
    nodeName: "n1",
    containers: [
      {
        name: "web",
        image: "nginx",
        ports: [
          { name: "http", containerPort: 80 },
          { name: "dns", containerPort: 53, protocol: "UDP" },
          { containerPort: 8080 },
        ],
        env: [{ name: "A", value: "b" }],
      },
      { name: "sidecar", image: "proxy" },
    ],
    volumes: [{ name: "data", emptyDir: {} }],
  },
  status: {
    phase: "Running",
    podIP: "10.42.0.5",
    podIPs: [{ ip: "10.42.0.5" }, { ip: "fd00:42::5" }],
    hostIP: "10.0.0.1",
    conditions: [{ type: "Ready", status: "True" }],
  },
};

const variants: [string, Pod][] = [
  ["a running pod with named ports", full],
  ["host network", { ...full, spec: { ...full.spec!, hostNetwork: true } }],
  ["finished", { ...full, status: { ...full.status, phase: "Succeeded" } }],
  ["podIP only", {
    ...full,
    status: { phase: "Running", podIP: "10.42.0.6" },
  }],
  ["no address yet", { ...full, status: { phase: "Pending" } }],
  ["no namespace, a non-string label", {
    metadata: {
      name: "x",
      labels: { ok: "1", bad: 2 } as unknown as Record<string, string>,
    },
    spec: { containers: [] },
    status: { podIPs: [{ ip: "10.42.0.7" }] },
  }],
  ["malformed spec and status", {
    metadata: { name: "y", namespace: "z" },
    spec: "nope",
    status: { podIPs: "nope", podIP: 7 },
  } as unknown as Pod],
];

Deno.test("slimPod(): the compiler's view of a pod is the same as of the whole pod", () => {
  for (const [what, pod] of variants) {
    assertEquals(podView(slimPod(pod)), podView(pod), what);
  }
});

Deno.test("slimPod(): annotations, managed fields, volumes and container specs are not kept", () => {
  const s = slimPod(full);
  assertEquals(s.metadata, {
    name: "web-1",
    namespace: "shop",
    resourceVersion: "42",
    labels: { app: "web", tier: "front" },
  });
  assertEquals(Object.keys(s.spec!).sort(), [
    "containers",
    "hostNetwork",
    "nodeName",
  ]);
  assertEquals(
    s.spec!.containers.map((c) => Object.keys(c).sort()),
    [["name", "ports"], ["name", "ports"]],
  );
  assertEquals(Object.keys(s.status!).sort(), ["phase", "podIP", "podIPs"]);
  assertEquals(
    JSON.stringify(s).length < JSON.stringify(full).length / 4,
    true,
  );
});

Deno.test("slimNamespace(): the compiler's view is the same; only name, labels and resourceVersion are kept", () => {
  const ns: Namespace = {
    metadata: {
      name: "shop",
      resourceVersion: "9",
      labels: { team: "a" },
      annotations: { note: "x".repeat(1000) },
    },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
  assertEquals(namespaceView(slimNamespace(ns)), namespaceView(ns));
  assertEquals(slimNamespace(ns), {
    metadata: { name: "shop", resourceVersion: "9", labels: { team: "a" } },
  });
});
