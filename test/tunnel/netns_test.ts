// The tunnel between namespaces, with a real pod address: the server's
// namespace reaches the agent's over a veth (10.77.0.0/24) and has no route
// to the pod network; the pod (10.42.5.10) sits behind the agent's namespace.
// So a CONNECT to the pod succeeds only through the tunnel.

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { ADMIN_TOKEN } from "./_cluster.ts";

const script = new URL("./_netns_node.ts", import.meta.url).pathname;

interface Proc extends AsyncDisposable {
  line: string;
}

/** Starts the script inside `ns`; resolves with its READY line. */
async function spawn(ns: Netns, ...args: string[]): Promise<Proc> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      Deno.execPath(),
      "run",
      "-A",
      script,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await reader.cancel().catch(() => {});
    await child.status;
  };
  try {
    while (!out.includes("READY")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${args[0]} exited before READY: ${out}`);
      out += value;
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    line: out.split("\n").find((l) => l.startsWith("READY"))!,
    [Symbol.asyncDispose]: stop,
  };
}

async function topology() {
  const srv = await Netns.create("tsrv");
  const agt = await Netns.create("tagt");
  const pod = await Netns.create("tpod");
  await srv.sh("ip", "link", "add", "s0", "type", "veth", "peer", "name", "a0");
  await srv.sh("ip", "link", "set", "a0", "netns", agt.name);
  await agt.sh("ip", "link", "add", "a1", "type", "veth", "peer", "name", "p0");
  await agt.sh("ip", "link", "set", "p0", "netns", pod.name);
  for (
    const [ns, dev, addr] of [
      [srv, "s0", "10.77.0.1/24"],
      [agt, "a0", "10.77.0.2/24"],
      [agt, "a1", "10.42.5.1/24"],
      [pod, "p0", "10.42.5.10/24"],
    ] as const
  ) {
    await ns.sh("ip", "addr", "add", addr, "dev", dev);
    await ns.sh("ip", "link", "set", dev, "up");
  }
  return { srv, agt, pod };
}

/** curl `target` from `ns` through the tunnel server's CONNECT proxy. */
function curlThrough(
  ns: Netns,
  proxy: string,
  caFile: string,
  maxTimeS: number,
  target: string,
) {
  return ns.run([
    "curl",
    "-sS",
    "--max-time",
    String(maxTimeS),
    "--proxytunnel",
    "--proxy",
    proxy,
    "--proxy-cacert",
    caFile,
    "--proxy-header",
    `Authorization: Bearer ${ADMIN_TOKEN}`,
    target,
  ]);
}

for (const mode of ["pod", "agent"] as const) {
  Deno.test(`tunnel in namespaces (${mode} mode): CONNECT to a real pod IP`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-ns-" });
    const { srv, agt, pod } = await topology();
    try {
      await using _pod = await spawn(pod, "pod", "10.42.5.10", "8080");
      await using server = await spawn(srv, "server", mode, "10.77.0.1", dir);
      const url = `https://10.77.0.1:${server.line.split(" ")[1]}`;
      await using _agent = await spawn(
        agt,
        "agent",
        mode,
        url,
        `${dir}/ca.pem`,
        "10.77.0.2",
        "10.42.5.0/24",
      );
      const curl = (target: string) =>
        curlThrough(srv, url, `${dir}/ca.pem`, 20, target);
      // The node endpoint (127.0.0.1:10250 inside the agent's namespace).
      const st = await curl("http://10.77.0.2:10250/status");
      assertEquals(st.code, 0, st.stderr);
      assertEquals(JSON.parse(st.stdout), { nodeName: "agt" });
      // The server's namespace has no route to the pod network.
      const noRoute = await srv.run([
        "curl",
        "-sS",
        "--max-time",
        "5",
        "http://10.42.5.10:8080/",
      ]);
      assert(noRoute.code !== 0);
      const r = await curl("http://10.42.5.10:8080/");
      if (mode === "pod") {
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, "pod 10.42.5.10");
      } else {
        // Agent mode dials pods directly, which fails here.
        assert(r.code !== 0 && r.stderr.includes("502"), r.stderr);
      }
    } finally {
      for (const ns of [pod, agt, srv]) await ns[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("tunnel in namespaces: back within 5 s after the agent's link was down 20 s", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-ns-" });
  const { srv, agt, pod } = await topology();
  try {
    await using _pod = await spawn(pod, "pod", "10.42.5.10", "8080");
    await using server = await spawn(srv, "server", "pod", "10.77.0.1", dir);
    const url = `https://10.77.0.1:${server.line.split(" ")[1]}`;
    await using _agent = await spawn(
      agt,
      "agent",
      "pod",
      url,
      `${dir}/ca.pem`,
      "10.77.0.2",
      "10.42.5.0/24",
    );
    const curl = () =>
      curlThrough(srv, url, `${dir}/ca.pem`, 2, "http://10.42.5.10:8080/");
    assertEquals((await curl()).stdout, "pod 10.42.5.10");
    await agt.sh("ip", "link", "set", "a0", "down");
    await new Promise((r) => setTimeout(r, 20_000));
    await agt.sh("ip", "link", "set", "a0", "up");
    const back = Date.now();
    let last = await curl();
    while (last.code !== 0 && Date.now() - back < 5_000) last = await curl();
    assertEquals(last.code, 0, `not back within 5 s: ${last.stderr}`);
    assertEquals(last.stdout, "pod 10.42.5.10");
  } finally {
    for (const ns of [pod, agt, srv]) await ns[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
