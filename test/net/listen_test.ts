// Listening for a --bind-address: the wildcard addresses listen on both
// families (one dual-stack socket on ::, or :: and 0.0.0.0 where :: takes no
// IPv4, or 0.0.0.0 where the host has no IPv6); a specific address binds
// that address only. Real sockets on loopback, and in namespaces for the
// sysctl variants; the no-IPv6 host through an opener that fails as
// socket(AF_INET6) does there.

import { assertEquals, assertThrows } from "@std/assert";
import {
  isWildcard,
  listenEach,
  ListenerGroup,
  listenLoopback,
  listenTcpOn,
} from "../../src/net/mod.ts";
import { Netns } from "../harness/netns.ts";

const probe = new URL("./_listen_probe.ts", import.meta.url).pathname;

interface Fake {
  host: string;
  port: number;
  closed: boolean;
}

/** An opener recording what was opened; `fail` decides which hosts throw. */
function fakes(fail: (host: string) => Error | null) {
  const opened: Fake[] = [];
  return {
    opened,
    plan: {
      open: (host: string, port: number): Fake => {
        const e = fail(host);
        if (e) throw e;
        const f = { host, port: port || 40000 + opened.length, closed: false };
        opened.push(f);
        return f;
      },
      portOf: (f: Fake) => f.port,
      close: (f: Fake) => void (f.closed = true),
    },
  };
}

Deno.test("isWildcard(): none, empty, 0.0.0.0, :: and [::] mean every address", () => {
  for (
    const b of [undefined, "", " ", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0"]
  ) {
    assertEquals(isWildcard(b), true, String(b));
  }
  for (const b of ["127.0.0.1", "::1", "fd77::1", "[fd77::1]", "10.0.0.1"]) {
    assertEquals(isWildcard(b), false, b);
  }
});

Deno.test("listenEach(): the wildcard is one socket on :: where it takes IPv4 too", () => {
  for (const bind of [undefined, "0.0.0.0", "::"]) {
    const f = fakes(() => null);
    const got = listenEach(bind, 6443, { ...f.plan, v6only: () => false });
    assertEquals(got.map((x) => [x.host, x.port]), [["::", 6443]]);
  }
});

Deno.test("listenEach(): with bindv6only a second socket on 0.0.0.0 takes the first one's port", () => {
  const f = fakes(() => null);
  const got = listenEach(undefined, 0, { ...f.plan, v6only: () => true });
  assertEquals(got.map((x) => [x.host, x.port]), [["::", 40000], [
    "0.0.0.0",
    40000,
  ]]);
});

Deno.test("listenEach(): a host without IPv6 sockets falls back to 0.0.0.0", () => {
  const noV6 = () =>
    fakes((h) =>
      h === "::"
        ? new Error("Address family not supported (os error 97)")
        : null
    );
  for (const bind of [undefined, "::", "0.0.0.0"]) {
    const f = noV6();
    const got = listenEach(bind, 6443, { ...f.plan, v6only: () => false });
    assertEquals(got.map((x) => x.host), ["0.0.0.0"]);
  }
});

Deno.test("listenEach(): a taken port is an error, not a fallback; a failed second socket closes the first", () => {
  const taken = fakes(() => new Deno.errors.AddrInUse("in use"));
  assertThrows(
    () => listenEach(undefined, 6443, { ...taken.plan, v6only: () => false }),
    Deno.errors.AddrInUse,
  );
  const v4Taken = fakes((h) =>
    h === "0.0.0.0" ? new Deno.errors.AddrInUse("in use") : null
  );
  assertThrows(
    () => listenEach(undefined, 6443, { ...v4Taken.plan, v6only: () => true }),
    Deno.errors.AddrInUse,
  );
  assertEquals(v4Taken.opened.map((x) => x.closed), [true]);
});

Deno.test("listenEach(): a specific address (bracketed or not) binds only it", () => {
  for (
    const [bind, want] of [["fd77::1", "fd77::1"], ["[fd77::1]", "fd77::1"], [
      "10.0.0.5",
      "10.0.0.5",
    ]]
  ) {
    const f = fakes(() => null);
    const got = listenEach(bind, 6443, { ...f.plan, v6only: () => true });
    assertEquals(got.map((x) => x.host), [want]);
  }
});

Deno.test("listenLoopback(): both loopbacks; a missing one is skipped, a taken port is an error", () => {
  const both = fakes(() => null);
  assertEquals(
    listenLoopback(0, both.plan).map((x) => [x.host, x.port]),
    [["127.0.0.1", 40000], ["::1", 40000]],
  );
  const noV6 = fakes((h) =>
    h === "::1" ? new Deno.errors.AddrNotAvailable("no ::1") : null
  );
  assertEquals(listenLoopback(10250, noV6.plan).map((x) => x.host), [
    "127.0.0.1",
  ]);
  const taken = fakes((h) =>
    h === "::1" ? new Deno.errors.AddrInUse("in use") : null
  );
  assertThrows(() => listenLoopback(10250, taken.plan), Deno.errors.AddrInUse);
  assertEquals(taken.opened.map((x) => x.closed), [true]);
  const none = fakes(() => new Deno.errors.AddrNotAvailable("none"));
  assertThrows(
    () => listenLoopback(10250, none.plan),
    Deno.errors.AddrNotAvailable,
  );
});

async function reaches(host: string, port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: host, port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("listenTcpOn(): the default accepts IPv4 and IPv6 on one port; 127.0.0.1 takes no IPv6", async () => {
  const any = listenTcpOn(undefined, 0);
  const accepting = (async () => {
    for await (const c of any) c.close();
  })();
  try {
    assertEquals(await reaches("127.0.0.1", any.addr.port), true);
    assertEquals(await reaches("::1", any.addr.port), true);
  } finally {
    any.close();
    await accepting;
  }
  const v4 = listenTcpOn("127.0.0.1", 0);
  try {
    assertEquals(v4.addrs.map((a) => a.hostname), ["127.0.0.1"]);
    assertEquals(await reaches("::1", v4.addr.port), false);
  } finally {
    v4.close();
  }
});

Deno.test("ListenerGroup: connections from every listener, iteration ends on close()", async () => {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "::1", port: 0 });
  const g = new ListenerGroup([a, b]);
  const seen: string[] = [];
  const accepting = (async () => {
    for await (const c of g) {
      seen.push(c.localAddr.hostname);
      c.close();
    }
  })();
  for (
    const [h, p] of [["::1", b.addr.port], ["127.0.0.1", a.addr.port], [
      "::1",
      b.addr.port,
    ]] as const
  ) {
    (await Deno.connect({ hostname: h, port: p })).close();
  }
  while (seen.length < 3) await new Promise((r) => setTimeout(r, 10));
  g.close();
  await accepting;
  assertEquals(seen.sort(), ["127.0.0.1", "::1", "::1"]);
  assertEquals(g.addrs.map((x) => x.hostname), ["127.0.0.1", "::1"]);
});

async function probeIn(
  ns: Netns,
  bind: string,
): Promise<{ listening: string[]; reached: Record<string, boolean> }> {
  const r = await ns.run([
    Deno.execPath(),
    "run",
    "-A",
    probe,
    bind,
    "127.0.0.1",
    "::1",
  ]);
  if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

Deno.test("listenTcpOn() in namespaces: dual-stack ::, two sockets under bindv6only=1, IPv4 still taken with IPv6 disabled", async () => {
  await using ns = await Netns.create("listen");
  assertEquals(await probeIn(ns, "-"), {
    listening: ["::"],
    reached: { "127.0.0.1": true, "::1": true },
  });
  await ns.sh("sysctl", "-qw", "net.ipv6.bindv6only=1");
  assertEquals(await probeIn(ns, "0.0.0.0"), {
    listening: ["::", "0.0.0.0"],
    reached: { "127.0.0.1": true, "::1": true },
  });
  assertEquals(await probeIn(ns, "::1"), {
    listening: ["::1"],
    reached: { "127.0.0.1": false, "::1": true },
  });
  await ns.sh("sysctl", "-qw", "net.ipv6.bindv6only=0");
  await ns.sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
  await ns.sh("sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1");
  assertEquals(await probeIn(ns, "::"), {
    listening: ["::"],
    reached: { "127.0.0.1": true, "::1": false },
  });
});
