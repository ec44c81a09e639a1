import { assertEquals } from "@std/assert";
import {
  type EgressMode,
  parseTarget,
  routeFor,
} from "../../src/tunnel/mod.ts";
import { EGRESS, node, pod } from "./_cluster.ts";

const nodes = [
  node("a", "10.0.0.1", "10.42.0.0/24", EGRESS),
  node("b", "10.0.0.2", "10.42.1.0/24"),
  node("s", "10.0.0.9", "10.42.9.0/24", EGRESS),
];
const hostNet = pod("h", "a", "10.0.0.1");
hostNet.spec!.hostNetwork = true;
const pods = [pod("p", "a", "10.43.0.5"), pod("q", "b", "10.43.0.6"), hostNet];

const route = (mode: EgressMode, target: string) =>
  routeFor(parseTarget(target), nodes, pods, {
    mode,
    nodeEndpointPort: 10250,
    localNode: "s",
  });
const tunnel = (node: string, target: string) => ({
  kind: "tunnel",
  node,
  target,
});
const direct = (target: string) => ({ kind: "direct", target });

Deno.test("routeFor: node endpoints go through the node's tunnel in every mode but disabled", () => {
  for (const mode of ["agent", "pod", "cluster"] as const) {
    assertEquals(route(mode, "a:10250"), tunnel("a", "127.0.0.1:10250"));
    assertEquals(route(mode, "10.0.0.1:10250"), tunnel("a", "127.0.0.1:10250"));
    assertEquals(route(mode, "10.0.0.2:10010"), tunnel("b", "127.0.0.1:10010"));
    // The server's own node is dialled directly.
    assertEquals(route(mode, "10.0.0.9:10250"), direct("127.0.0.1:10250"));
    assertEquals(route(mode, "8.8.8.8:443"), direct("8.8.8.8:443"));
    assertEquals(route(mode, "example.com:443"), direct("example.com:443"));
  }
  assertEquals(route("disabled", "a:10250"), direct("a:10250"));
  assertEquals(route("disabled", "10.0.0.1:10250"), direct("10.0.0.1:10250"));
});

Deno.test("routeFor: agent mode sends pod traffic directly", () => {
  assertEquals(route("agent", "10.42.0.7:80"), direct("10.42.0.7:80"));
  assertEquals(route("agent", "10.0.0.1:22"), direct("10.0.0.1:22"));
});

Deno.test("routeFor: pod mode tunnels the pod CIDRs of labelled nodes", () => {
  assertEquals(route("pod", "10.42.0.7:80"), tunnel("a", "10.42.0.7:80"));
  assertEquals(route("pod", "10.42.1.7:80"), direct("10.42.1.7:80"));
  assertEquals(route("pod", "10.0.0.1:8080"), tunnel("a", "10.0.0.1:8080"));
  assertEquals(route("pod", "10.0.0.2:8080"), direct("10.0.0.2:8080"));
  // Pod objects are not consulted in pod mode.
  assertEquals(route("pod", "10.43.0.5:80"), direct("10.43.0.5:80"));
  assertEquals(route("pod", "a:8080"), tunnel("a", "10.0.0.1:8080"));
});

Deno.test("routeFor: cluster mode also routes Pod IPs to their node", () => {
  assertEquals(route("cluster", "10.43.0.5:80"), tunnel("a", "10.43.0.5:80"));
  // b is not labelled, so its pods are dialled directly.
  assertEquals(route("cluster", "10.43.0.6:80"), direct("10.43.0.6:80"));
  assertEquals(route("cluster", "10.42.0.7:80"), tunnel("a", "10.42.0.7:80"));
});

Deno.test("parseTarget: host:port forms and bad input", () => {
  assertEquals(parseTarget("[fd00::1]:443"), { host: "fd00::1", port: 443 });
  assertEquals(parseTarget("node-1:10250"), { host: "node-1", port: 10250 });
  for (const bad of ["a", "a:0", "a:65536", "fd00::1:80", "a:b", ":80"]) {
    let threw = false;
    try {
      parseTarget(bad);
    } catch (e) {
      threw = e instanceof TypeError && e.message.includes("bad target");
    }
    assertEquals(threw, true, bad);
  }
});
