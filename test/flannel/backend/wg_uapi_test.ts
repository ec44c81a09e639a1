// The UAPI client against a scripted unix-socket server: the request text it
// sends, how it parses `get=1`, and refusals as UapiError with the errno.

import { assertEquals, assertRejects } from "@std/assert";
import {
  UapiError,
  uapiGet,
  uapiSet,
} from "../../../src/flannel/backend/wg_uapi.ts";

/** Serves one connection: records the request, answers `reply`. */
async function withServer(
  reply: string,
  fn: (socket: string, request: () => Promise<string>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-uapi-" });
  const socket = `${dir}/t.sock`;
  const l = Deno.listen({ transport: "unix", path: socket });
  const served = (async () => {
    const c = await l.accept();
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.endsWith("\n\n")) {
      const n = await c.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    await c.write(new TextEncoder().encode(reply));
    c.close();
    return text;
  })();
  try {
    await fn(socket, () => served);
  } finally {
    l.close();
    await served.catch(() => "");
    await Deno.remove(dir, { recursive: true });
  }
}

const K1 = "11".repeat(32);
const K2 = "22".repeat(32);

Deno.test("uapiGet() parses the device and its peers", async () => {
  await withServer(
    `private_key=${K1}\nlisten_port=51820\n` +
      `public_key=${K2}\npreshared_key=${"0".repeat(64)}\n` +
      `protocol_version=1\nendpoint=192.168.77.2:51820\n` +
      `last_handshake_time_sec=0\npersistent_keepalive_interval=25\n` +
      `allowed_ip=10.42.2.0/24\nallowed_ip=fd42:0:0:2::/64\nerrno=0\n\n`,
    async (socket, request) => {
      assertEquals(await uapiGet(socket), {
        privateKey: K1,
        listenPort: 51820,
        peers: [{
          publicKey: K2,
          presharedKey: null,
          endpoint: "192.168.77.2:51820",
          allowedIPs: ["10.42.2.0/24", "fd42:0:0:2::/64"],
          keepalive: 25,
        }],
      });
      assertEquals(await request(), "get=1\n\n");
    },
  );
});

Deno.test("uapiSet() sends set=1 and its lines; a refusal is a UapiError with the errno", async () => {
  await withServer("errno=0\n\n", async (socket, request) => {
    await uapiSet(socket, [`public_key=${K2}`, "remove=true"]);
    assertEquals(await request(), `set=1\npublic_key=${K2}\nremove=true\n\n`);
  });
  await withServer("errno=22\n\n", async (socket) => {
    const e = await assertRejects(
      () => uapiSet(socket, ["listen_port=x"]),
      UapiError,
      "errno 22",
    );
    assertEquals(e.errno, 22);
  });
  await withServer("garbage", async (socket) => {
    await assertRejects(() => uapiGet(socket), UapiError, "without errno");
  });
  await assertRejects(
    () => uapiSet("/nonexistent/x.sock", ["a=b"]),
    UapiError,
    "cannot connect",
  );
  await assertRejects(
    () => uapiSet("/nonexistent/x.sock", ["a=b\nc=d"]),
    TypeError,
    "newline",
  );
});

Deno.test("a daemon that never answers is a UapiError, not a hang", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-uapi-" });
  const socket = `${dir}/t.sock`;
  const l = Deno.listen({ transport: "unix", path: socket });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of l) held.push(c); // accepted, never read or answered
  })();
  try {
    await assertRejects(
      () => uapiSet(socket, ["x=".padEnd(1 << 20, "y")], { timeoutMs: 300 }),
      UapiError,
      "no answer in 300 ms",
    );
    await assertRejects(
      () => uapiGet(socket, { timeoutMs: 300 }),
      UapiError,
      "no answer",
    );
  } finally {
    l.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});
