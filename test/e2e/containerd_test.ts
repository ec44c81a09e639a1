// Issue 10's containerd acceptance: a real 2-node weft cluster (`weft
// server` + `weft agent`, vxlan), Debian's containerd + runc on each node
// inside the node's network and mount namespaces, busybox containers
// started by `ctr run --cni` through the CNI config weft installed.
//
// Both conflist shapes run at once: node1 (the server) keeps weft's default
// conflist, node2's agent is given K3s's three-plugin chain (flannel ->
// portmap -> bandwidth) with --flannel-cni-conf. On each node a web
// container (busybox httpd serving 320 KiB of random bytes, with a port
// mapping) and a client container; the checks: addresses in the node's
// podCIDR, ICMP and TCP across the overlay, the port mapping from the other
// node's container, and a teardown that runs CNI DEL (the IPs released,
// the NAT rules gone, the result cache dropped).
//
// ctr passes no capability arguments (no -p), so the port mapping reaches
// the plugin the one way ctr allows: a conflist with a static
// `runtimeConfig.portMappings` in the plugin declaring that capability,
// which libcni passes through unchanged; that ctr process sees it as its
// /etc/cni/net.d. ctr 1.6 runs CNI DEL only when a foreground `ctr run`
// sees its task exit: each container is a foreground `ctr run --cni --rm`
// stopped with `ctr task kill`.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Cluster, type ClusterNode } from "../flannel/_cluster.ts";
import {
  buildBusyboxImage,
  BUSYBOX_IMAGE,
  type Container,
  heldIPs,
  inCidr,
  installedConflist,
  K3S_CHAIN_CONFLIST,
  natRules,
  type NodeContainerd,
  podCidr,
  readInNode,
  startContainerd,
  withPortMappings,
} from "../harness/containerd.ts";
import { run } from "../harness/netns.ts";
import { runWeft } from "../harness/weft.ts";

const BLOB_KIB = 320;
const WEB_CMD = [
  "sh",
  "-c",
  // httpd listens before it daemonizes: blob.sum appears once it serves.
  `dd if=/dev/urandom of=/www/blob bs=1024 count=${BLOB_KIB} 2>/dev/null && ` +
  "httpd -p 80 -h /www && sha256sum /www/blob > /tmp/blob.sum && " +
  "exec sleep 1000000000",
];

interface NodeRun {
  node: ClusterNode;
  rt: NodeContainerd;
  cidr: string;
  hostPort: number;
  web: Container;
  client: Container;
  webIP: string;
  clientIP: string;
  sum: string;
}

function plugins(conflist: string): string[] {
  return (JSON.parse(conflist).plugins as { type: string }[]).map((p) =>
    p.type
  );
}

async function sumOf(web: Container): Promise<string> {
  // Empty until httpd serves (and asked again while it is).
  const r = await web.output(["cat", "/tmp/blob.sum"], 50);
  assert(r.stdout.trim(), `container ${web.id} wrote no blob: ${r.stderr}`);
  return r.stdout.split(/\s+/)[0];
}

/**
 * `c` pings `ip`; a few tries while flannel may still be programming the
 * other node's lease (the cluster is fresh).
 */
async function pings(c: Container, ip: string): Promise<void> {
  let last = "";
  for (let i = 0; i < 10; i++) {
    const r = await c.exec("ping", "-c", "1", "-W", "2", ip);
    if (r.code === 0) return;
    last = r.stdout + r.stderr;
  }
  throw new Error(`${c.id} cannot ping ${ip}: ${last}`);
}

/** GET url from inside `c`: the SHA-256 of the body and its size. */
async function fetchSum(c: Container, url: string) {
  const r = await c.output([
    "sh",
    "-c",
    // Not wget -T: Debian's busybox-static 1.35 segfaults with it.
    `timeout 10 wget -q -O /tmp/got '${url}' && wc -c < /tmp/got && sha256sum /tmp/got`,
  ], 3);
  assertEquals(r.code, 0, `wget ${url} in ${c.id}: ${r.stderr}`);
  const [size, sum] = r.stdout.trim().split(/\s+/);
  return { size: Number(size), sum };
}

Deno.test("containerd on 2 weft nodes: ctr run --cni containers get podCIDR addresses, talk over the overlay, map a port and release everything on exit (default conflist and K3s chain)", async () => {
  const work = await Deno.makeTempDir({ prefix: "weft-ctrd-e2e-" });
  const tag = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  const runtimes: NodeContainerd[] = [];
  let cluster: Cluster | undefined;
  try {
    const k3s = `${work}/k3s-chain.conflist`;
    await Deno.writeTextFile(k3s, JSON.stringify(K3S_CHAIN_CONFLIST));
    const image = await buildBusyboxImage(`${work}/image`);
    cluster = await Cluster.start({
      nodes: 2,
      agentArgs: ["--flannel-cni-conf", k3s],
    });
    const [n1, n2] = cluster.nodes;
    const conf1 = await installedConflist(n1);
    const conf2 = await installedConflist(n2);
    assertEquals(plugins(conf2), ["flannel", "portmap", "bandwidth"]);
    assertEquals(plugins(conf1)[0], "flannel", "node1: weft's default");
    console.log(`node1 conflist: ${plugins(conf1).join(" -> ")}`);

    const nodes: NodeRun[] = [];
    for (const [i, node] of [n1, n2].entries()) {
      const rt = await startContainerd(node, `${work}/ctrd-${node.name}`, {
        namespace: `weft-t-${tag}`,
      });
      runtimes.push(rt);
      await rt.importImage(image);
      const conflist = i === 0 ? conf1 : conf2;
      const hostPort = 30081 + i;
      const web = await rt.run(`web${i + 1}-${tag}`, BUSYBOX_IMAGE, WEB_CMD, {
        conflist: withPortMappings(conflist, [
          { hostPort, containerPort: 80, protocol: "tcp" },
        ]),
      });
      const client = await rt.run(
        `client${i + 1}-${tag}`,
        BUSYBOX_IMAGE,
        ["sleep", "3600"],
      );
      nodes.push({
        node,
        rt,
        cidr: await podCidr(node),
        hostPort,
        web,
        client,
        webIP: await web.ipv4(),
        clientIP: await client.ipv4(),
        sum: await sumOf(web),
      });
    }

    for (const n of nodes) {
      for (const ip of [n.webIP, n.clientIP]) {
        assert(inCidr(ip, n.cidr), `${ip} in ${n.node.name}'s ${n.cidr}`);
      }
      assertEquals(
        await heldIPs(n.node),
        [n.webIP, n.clientIP].sort(),
        `${n.node.name}: host-local holds the containers' IPs`,
      );
      const nat = await natRules(n.node);
      assertStringIncludes(nat, String(n.hostPort), "the DNAT rule is there");
    }

    // Across the overlay, both ways: ICMP, TCP with a 320 KiB body, and
    // the other node's mapped port (node IP -> DNAT -> web container).
    for (const [a, b] of [[nodes[0], nodes[1]], [nodes[1], nodes[0]]]) {
      for (const ip of [b.webIP, b.clientIP]) await pings(a.client, ip);
      const direct = await fetchSum(a.client, `http://${b.webIP}/blob`);
      assertEquals(direct, { size: BLOB_KIB * 1024, sum: b.sum });
      const mapped = await fetchSum(
        a.client,
        `http://${b.node.ip}:${b.hostPort}/blob`,
      );
      assertEquals(mapped, { size: BLOB_KIB * 1024, sum: b.sum });
    }

    // Every container attached through weft's CNI is a Pod in the API
    // (kubectl get pods -A -o wide), on its node, with its IP.
    const podsByIP = async () => {
      const r = await cluster!.kubectl("get", "pods", "-A", "-o", "json");
      assertEquals(r.code, 0, r.stderr);
      const list = JSON.parse(r.stdout) as {
        items: {
          spec?: { nodeName?: string };
          status?: { podIP?: string; phase?: string };
        }[];
      };
      return new Map(
        list.items.map((p) => [p.status?.podIP ?? "", p] as const),
      );
    };
    const expected = nodes.flatMap((n) =>
      [n.webIP, n.clientIP].map((ip) => ({ ip, node: n.node.name }))
    );
    let seen: Awaited<ReturnType<typeof podsByIP>> = new Map();
    for (let i = 0; i < 60; i++) {
      seen = await podsByIP();
      if (expected.every((e) => seen.has(e.ip))) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    for (const e of expected) {
      const pod = seen.get(e.ip);
      assert(pod, `a Pod with IP ${e.ip} (${e.node}) is in the API`);
      assertEquals(pod?.spec?.nodeName, e.node);
      assertEquals(pod?.status?.phase, "Running");
    }

    // Teardown: kill the tasks; each foreground ctr runs CNI DEL, deletes
    // the task and the container.
    for (const n of nodes) {
      for (const c of [n.web, n.client]) await c.stop();
      assertEquals(await heldIPs(n.node), [], `${n.node.name}: IPs released`);
      const nat = await natRules(n.node);
      assert(
        !nat.includes(String(n.hostPort)),
        `${n.node.name}: the port mapping's rules are gone:\n${nat}`,
      );
      for (const c of [n.web, n.client]) {
        assertEquals(
          await readInNode(
            n.node,
            `/var/lib/cni/results/cbr0-${c.cniId}-eth0`,
          ),
          "",
          `${c.id}: the result cache entry is gone`,
        );
      }
      const left = await n.rt.ctr("containers", "ls", "-q");
      assertEquals(left.stdout.trim(), "", "ctr run --rm removed them");
    }

    // CNI DEL removed their Pods.
    for (let i = 0; i < 60; i++) {
      seen = await podsByIP();
      if (expected.every((e) => !seen.has(e.ip))) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    for (const e of expected) {
      assert(!seen.has(e.ip), `the Pod with IP ${e.ip} is gone after DEL`);
    }

    // Each exec'd plugin run reached its node's agent as a record
    // (/run/flannel/cni-ops.log): node2 runs K3s's chain, so flannel,
    // portmap and bandwidth each counted two ADDs and two DELs.
    const want = ["flannel", "portmap", "bandwidth"].flatMap((p) =>
      ["ADD", "DEL"].map((c) =>
        `weft_cni_operations_total{plugin="${p}",command="${c}",result="success"} 2`
      )
    );
    let metrics = "";
    for (let i = 0; i < 40; i++) {
      const r = await cluster.kubectl(
        "get",
        "--raw",
        `/api/v1/nodes/${n2.name}/proxy/metrics`,
      );
      metrics = r.stdout;
      if (want.every((w) => metrics.includes(w))) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    for (const w of want) assertStringIncludes(metrics, w);
  } catch (e) {
    if (cluster) console.error(await cluster.logs());
    throw e;
  } finally {
    for (const rt of runtimes.reverse()) await rt.stop();
    if (cluster) await cluster[Symbol.asyncDispose]();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});

Deno.test("weft demo --check --runtime containerd: 2 nodes of real containers, the whole matrix passes, nothing left behind", async () => {
  const prefix = `weft-t-${Deno.pid}-cd-`;
  const names = () =>
    [...Deno.readDirSync("/run/netns")].map((e) => e.name).filter((n) =>
      n.startsWith(prefix)
    );
  try {
    const r = await runWeft([
      "demo",
      "--check",
      "--runtime",
      "containerd",
      "--nodes",
      "2",
      "--ns-prefix",
      prefix,
    ]);
    const all = r.stdout + r.stderr;
    assertEquals(r.code, 0, all);
    assertEquals(
      (r.stdout.match(
        /: container n\d-p\d 10\.42\.\d+\.\d+ \(ctr run --cni, task pid \d+/g,
      ) ?? []).length,
      4,
      all,
    );
    // 4 containers x 2 on the other node, 4 x 2 nodes, 2 tunnels.
    assertStringIncludes(
      r.stdout,
      "18/18 ok — pod↔pod 8/8, pod→node 8/8, server→agent tunnel 2/2",
    );
    assertEquals(names(), [], "the demo removed its namespaces");
    // containerd and the containers were stopped (their pids are gone).
    const pids = [
      ...r.stdout.matchAll(/containerd \S+ \(pid (\d+)\)/g),
      ...r.stdout.matchAll(/task pid (\d+)/g),
    ].map((m) => Number(m[1]));
    assertEquals(pids.length, 6, all);
    const alive = pids.filter((pid) => {
      try {
        Deno.statSync(`/proc/${pid}`);
        return true;
      } catch {
        return false;
      }
    });
    assertEquals(alive, [], "containerd and the containers are gone");
  } finally {
    for (const ns of names()) await run(["ip", "netns", "del", ns]);
  }
});

Deno.test("weft demo --runtime rejects an unknown runtime with one line and exit 2", async () => {
  const r = await runWeft(["demo", "--runtime", "docker"]);
  assertEquals(r.code, 2, r.stderr);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assertStringIncludes(
    r.stderr,
    'invalid value "docker" for flag --runtime: must be cni or containerd',
  );
});
