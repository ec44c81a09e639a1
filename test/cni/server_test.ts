// The agent's CNI socket server (in this process): a private socket, the
// operations it serves (delegating to a foreign plugin on CNI_PATH with the
// request's environment, one at a time), and hostile input — oversized or
// malformed frames, a client that never finishes, too many waiting, a
// request from another working directory, an operation that overruns —
// answered or dropped without ending the server.

import { assert, assertEquals } from "@std/assert";
import { askAgent } from "../../src/cni/client.ts";
import {
  type CniReply,
  frame,
  jsonFrame,
  MAX_HEADER,
  netnsId,
  readFrame,
} from "../../src/cni/socket.ts";
import { scriptPlugin } from "./_helpers.ts";
import { type Server, startCniServer } from "./_serve.ts";

const enc = new TextEncoder();

function ask(
  s: Server,
  env: Record<string, string>,
  stdin: unknown = "",
  name = "flannel",
): Promise<CniReply | null> {
  return askAgent(
    s.path,
    { name, env, cwd: Deno.cwd(), ns: netnsId() },
    enc.encode(typeof stdin === "string" ? stdin : JSON.stringify(stdin)),
  );
}

const VERSION = { CNI_COMMAND: "VERSION" };

/** Sends raw bytes; returns what the server answered before closing. */
async function raw(s: Server, bytes: Uint8Array, half = true): Promise<string> {
  using conn = await Deno.connect({ transport: "unix", path: s.path });
  await conn.write(bytes).catch(() => 0);
  if (half) await conn.closeWrite().catch(() => {});
  const out: string[] = [];
  try {
    for (;;) {
      const f = await readFrame(conn, 1 << 20);
      if (!f) break;
      out.push(new TextDecoder().decode(f));
    }
  } catch { /* reset */ }
  return out.join("|");
}

Deno.test("serveCni: the socket is 0600, answers VERSION, and is removed when stopped", async () => {
  let path: string;
  {
    await using s = await startCniServer();
    path = s.path;
    assertEquals(Deno.statSync(s.path).mode! & 0o777, 0o600);
    const r = await ask(s, VERSION);
    assertEquals(r?.code, 0);
    assertEquals(JSON.parse(r!.stdout).cniVersion, "1.1.0");
  }
  let gone = false;
  try {
    Deno.statSync(path);
  } catch {
    gone = true;
  }
  assert(gone, "the socket outlived the server");
});

Deno.test("serveCni: a plugin's failure is its CNI error answer; the server goes on", async () => {
  await using s = await startCniServer();
  const bad = await ask(s, {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c1",
    CNI_IFNAME: "eth0",
    CNI_NETNS: "/nonexistent",
    CNI_PATH: "/nonexistent",
  }, "{not json");
  assertEquals(bad?.code, 1);
  assertEquals(JSON.parse(bad!.stdout).code, 6);
  assertEquals((await ask(s, VERSION))?.code, 0);
});

Deno.test("serveCni: hostile frames are dropped without an answer and without ending the server", async () => {
  await using s = await startCniServer({ readTimeoutMs: 300 });
  const huge = new Uint8Array(4);
  new DataView(huge.buffer).setUint32(0, MAX_HEADER + 1);
  assertEquals(await raw(s, huge), "");
  assertEquals(await raw(s, frame(enc.encode("{garbage"))), "");
  const header = (h: unknown) =>
    new Uint8Array([...jsonFrame(h), ...frame(new Uint8Array(0))]);
  const ok = { name: "flannel", env: VERSION, cwd: Deno.cwd(), ns: netnsId() };
  assertEquals(await raw(s, header({ ...ok, name: "rm" })), "");
  assertEquals(await raw(s, header({ ...ok, env: { A: 1 } })), "");
  assertEquals(await raw(s, header({ ...ok, env: ["x"] })), "");
  assertEquals(await raw(s, header(null)), "");
  // A header with no stdin frame, the stream cut short inside a frame.
  assertEquals(await raw(s, jsonFrame(ok)), "");
  assertEquals(await raw(s, header(ok).subarray(0, 10)), "");
  // A client that sends half a request and waits: dropped after the read
  // timeout (the connection is closed under it).
  assertEquals(await raw(s, jsonFrame(ok).subarray(0, 6), false), "");
  // Still serving.
  assertEquals(
    await raw(s, header(ok)).then((a) => a.split("|")[0]),
    '{"state":"accepted"}',
  );
});

Deno.test("serveCni: requests from another network namespace, or another working directory naming a relative path, go back to the plugin process", async () => {
  await using s = await startCniServer();
  const env = VERSION;
  const stdin = new Uint8Array(0);
  const other = Deno.cwd() === "/" ? "/tmp" : "/";
  const at = (cwd: string, e: Record<string, string>, conf: unknown) =>
    askAgent(
      s.path,
      { name: "flannel", env: e, cwd, ns: netnsId() },
      enc.encode(JSON.stringify(conf)),
    );
  // Another working directory, absolute paths only: served.
  const abs = { cniVersion: "1.0.0", name: "x", dataDir: "/var/lib/x" };
  assertEquals((await at(other, env, abs))?.code, 0);
  // A relative path under a path-like key, in CNI_NETNS or CNI_PATH: not.
  for (
    const conf of [
      { ...abs, dataDir: "state" },
      { ...abs, ipam: { type: "host-local", dataDir: "./ipam" } },
      { ...abs, ipam: { resolvConf: "resolv.conf" } },
    ]
  ) {
    assertEquals(await at(other, env, conf), null, JSON.stringify(conf));
  }
  assertEquals(await at(other, { ...env, CNI_NETNS: "ns/x" }, abs), null);
  assertEquals(await at(other, { ...env, CNI_PATH: "/opt:bin" }, abs), null);
  // The same from the agent's own working directory: served.
  assertEquals((await at(Deno.cwd(), env, { ...abs, dataDir: "s" }))?.code, 0);
  // Values that merely contain a slash under other keys are no paths.
  assertEquals(
    (await at(other, env, { ...abs, subnet: "10.0.0.0/8" }))?.code,
    0,
  );
  assertEquals(
    await askAgent(
      s.path,
      { name: "flannel", env, cwd: Deno.cwd(), ns: "0:1" },
      stdin,
    ),
    null,
  );
  const answer = await raw(
    s,
    new Uint8Array([
      ...jsonFrame({ name: "flannel", env, cwd: Deno.cwd(), ns: "0:1" }),
      ...frame(stdin),
    ]),
  );
  assertEquals(JSON.parse(answer), {
    state: "fallback",
    why: "another network namespace",
  });
});

Deno.test("serveCni: beyond maxWaiting connections a new one is refused (the plugin runs itself)", async () => {
  await using s = await startCniServer({ maxWaiting: 1, readTimeoutMs: 1000 });
  // An idle client holds the only slot until its read timeout.
  const idle = await Deno.connect({ transport: "unix", path: s.path });
  try {
    // Let the server accept the idle connection first.
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(await ask(s, VERSION), null);
  } finally {
    idle.close();
  }
  // The slot frees when the idle connection goes.
  let r: CniReply | null = null;
  for (let i = 0; i < 50 && !r; i++) {
    r = await ask(s, VERSION);
    if (!r) await new Promise((res) => setTimeout(res, 50));
  }
  assertEquals(r?.code, 0);
});

/** flannel delegating to a foreign plugin `slow` (a script on CNI_PATH). */
async function foreign(s: Server) {
  const bin = `${s.dir}/bin`;
  await Deno.mkdir(bin);
  const log = `${s.dir}/calls.log`;
  await scriptPlugin(
    bin,
    "slow",
    `echo "start $CNI_CONTAINERID $MARK $CNI_COMMAND home=$HOME" >> ${log}
sleep "\${SLEEP:-0.3}"
echo "end $CNI_CONTAINERID" >> ${log}
cat > /dev/null
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","ips":[{"address":"10.42.9.7/24"}]}'
fi`,
  );
  Deno.writeTextFileSync(
    `${s.dir}/subnet.env`,
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  const conf = {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: `${s.dir}/subnet.env`,
    dataDir: `${s.dir}/flannel`,
    delegate: { type: "slow" },
  };
  const env = (cid: string, extra: Record<string, string> = {}) => ({
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: cid,
    CNI_IFNAME: "eth0",
    CNI_NETNS: "/proc/1/ns/net",
    CNI_NETNS_OVERRIDE: "1",
    CNI_PATH: bin,
    ...extra,
  });
  return { conf, env, log };
}

Deno.test("serveCni: delegation to a foreign plugin gets each request's environment, one operation at a time", async () => {
  await using s = await startCniServer();
  const { conf, env, log } = await foreign(s);
  const [a, b] = await Promise.all([
    ask(s, env("ca", { MARK: "one" }), conf),
    ask(s, env("cb", { MARK: "two" }), conf),
  ]);
  assertEquals(a?.code, 0, a?.stdout);
  assertEquals(b?.code, 0, b?.stdout);
  assertEquals(JSON.parse(a!.stdout).ips[0].address, "10.42.9.7/24");
  assertEquals(Deno.readTextFileSync(log).trim().split("\n"), [
    "start ca one ADD home=",
    "end ca",
    "start cb two ADD home=",
    "end cb",
  ]);
  // The agent's own environment (HOME here) did not reach the plugin.
  assert(Deno.env.get("HOME"), "the test needs HOME set");
});

Deno.test("serveCni: an operation that overruns answers 'try again later' and the queue moves on", async () => {
  await using s = await startCniServer({ opTimeoutMs: 200 });
  const { conf, env } = await foreign(s);
  const slow = await ask(s, env("cs", { SLEEP: "1" }), conf);
  assertEquals(slow?.code, 1);
  assertEquals(JSON.parse(slow!.stdout).code, 11);
  assertEquals((await ask(s, VERSION))?.code, 0);
  // Let the overrun plugin finish before the directory goes.
  await new Promise((r) => setTimeout(r, 1000));
  assert(s.logs.some((l) => l.includes("ran over")), s.logs.join("\n"));
});

Deno.test("askAgent: an agent that takes the connection but never answers is given up on (the plugin runs itself); one that stops answering mid-operation is 'try again later'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-hung-" });
  const path = `${dir}/cni.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const held: Deno.Conn[] = [];
  const serving = (async () => {
    let n = 0;
    for await (const conn of listener) {
      held.push(conn);
      // The second client gets "accepted", then nothing.
      if (n++ === 1) await conn.write(jsonFrame({ state: "accepted" }));
    }
  })();
  try {
    const header = {
      name: "flannel",
      env: VERSION,
      cwd: Deno.cwd(),
      ns: netnsId(),
    };
    const t = { ackMs: 200, answerMs: 400 };
    assertEquals(await askAgent(path, header, new Uint8Array(0), t), null);
    const lost = await askAgent(
      path,
      header,
      enc.encode('{"cniVersion":"0.4.0"}'),
      t,
    );
    assertEquals(lost?.code, 1);
    assertEquals(JSON.parse(lost!.stdout).code, 11);
    assertEquals(JSON.parse(lost!.stdout).cniVersion, "0.4.0");
  } finally {
    listener.close();
    await serving.catch(() => {});
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});
