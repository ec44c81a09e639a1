// loopback in a real namespace: lo up/down, result shapes, the
// non-loopback address check; read back with `ip -j`.

import { assertEquals, assertMatch } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { cniEnv, json, runExec, runIn } from "./_helpers.ts";

const CONF = { cniVersion: "1.1.0", name: "lo", type: "loopback" };

interface IpLink {
  flags: string[];
}

async function loUp(ns: Netns): Promise<boolean> {
  const [lo] = await ns.json<IpLink[]>("ip", "-j", "link", "show", "lo");
  return lo.flags.includes("UP");
}

Deno.test("loopback: ADD brings lo up and reports its addresses", async () => {
  await using ns = await Netns.create("lo");
  await ns.sh("ip", "link", "set", "lo", "down");
  const r = await runIn(
    "loopback",
    cniEnv("ADD", { netns: ns.path, ifname: "lo" }),
    CONF,
  );
  assertEquals(r.code, 0, r.stdout);
  assertEquals(await loUp(ns), true);
  assertEquals(json(r), {
    cniVersion: "1.1.0",
    interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: ns.path }],
    ips: [
      { interface: 0, address: "127.0.0.1/8" },
      { interface: 0, address: "::1/128" },
    ],
    dns: {},
  });
});

Deno.test("loopback: result shapes for 0.2.0 and 0.3.1", async () => {
  await using ns = await Netns.create("lo");
  const old = await runIn("loopback", cniEnv("ADD", { netns: ns.path }), {
    ...CONF,
    cniVersion: "0.2.0",
  });
  assertEquals(json(old).ip4, { ip: "127.0.0.1/8" });
  const v031 = await runIn("loopback", cniEnv("ADD", { netns: ns.path }), {
    ...CONF,
    cniVersion: "0.3.1",
  });
  assertEquals(json<{ ips: unknown[] }>(v031).ips[0], {
    version: "4",
    interface: 0,
    address: "127.0.0.1/8",
  });
});

Deno.test("loopback: ADD passes a prevResult through", async () => {
  await using ns = await Netns.create("lo");
  const prev = {
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0", sandbox: ns.path }],
    ips: [{ address: "10.1.0.5/24", interface: 0 }],
  };
  const r = await runIn("loopback", cniEnv("ADD", { netns: ns.path }), {
    ...CONF,
    prevResult: prev,
  });
  assertEquals(json(r), { ...prev, dns: {} });
});

Deno.test("loopback: a non-loopback address on lo is an error", async () => {
  await using ns = await Netns.create("lo");
  await ns.sh("ip", "addr", "add", "192.0.2.7/32", "dev", "lo");
  const r = await runIn("loopback", cniEnv("ADD", { netns: ns.path }), CONF);
  assertEquals(r.code, 1);
  assertMatch(String(json(r).msg), /non-loopback address "192\.0\.2\.7"/);
});

Deno.test("loopback: CHECK passes with lo up, fails with lo down; DEL sets it down", async () => {
  await using ns = await Netns.create("lo");
  const check = () =>
    runIn("loopback", cniEnv("CHECK", { netns: ns.path }), {
      ...CONF,
      prevResult: { cniVersion: "1.1.0" },
    });
  assertEquals((await check()).code, 0);
  const del = await runIn("loopback", cniEnv("DEL", { netns: ns.path }), CONF);
  assertEquals(del.code, 0, del.stdout);
  assertEquals(await loUp(ns), false);
  const r = await check();
  assertEquals(r.code, 1);
  assertMatch(String(json(r).msg), /loopback interface is down/);
});

Deno.test("loopback: DEL with an empty or vanished netns succeeds", async () => {
  const env = cniEnv("DEL");
  assertEquals((await runIn("loopback", env, CONF)).code, 0);
  const gone = await runIn(
    "loopback",
    cniEnv("DEL", { netns: "/run/netns/weft-t-does-not-exist" }),
    CONF,
  );
  assertEquals(gone.code, 0, gone.stdout);
});

Deno.test("loopback: ADD into a missing netns is an error on stdout", async () => {
  const r = await runIn(
    "loopback",
    cniEnv("ADD", { netns: "/run/netns/weft-t-does-not-exist" }),
    CONF,
  );
  assertEquals(r.code, 1);
  assertMatch(String(json(r).msg), /failed to open netns/);
});

Deno.test("loopback: works exec'd under its name", async () => {
  await using ns = await Netns.create("lo");
  await ns.sh("ip", "link", "set", "lo", "down");
  const r = await runExec(
    "loopback",
    cniEnv("ADD", { netns: ns.path, ifname: "lo" }),
    CONF,
  );
  assertEquals(r.code, 0, r.stdout + r.stderr);
  assertEquals(await loUp(ns), true);
});

Deno.test("loopback: ADD and CHECK in every spec version", async () => {
  await using ns = await Netns.create("lo");
  for (
    const v of ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
  ) {
    const conf = { ...CONF, cniVersion: v };
    const r = await runIn("loopback", cniEnv("ADD", { netns: ns.path }), conf);
    assertEquals(r.code, 0, r.stdout);
    const out = json(r);
    assertEquals(out.cniVersion, v);
    if (v < "0.3.0") assertEquals(out.ip4, { ip: "127.0.0.1/8" });
    else assertEquals((out.interfaces as { name: string }[])[0].name, "lo");
    if (v >= "0.4.0") {
      const c = await runIn("loopback", cniEnv("CHECK", { netns: ns.path }), {
        ...conf,
        prevResult: out,
      });
      assertEquals(c.code, 0, c.stdout);
    }
  }
});
