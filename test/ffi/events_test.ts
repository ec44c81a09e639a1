import { assertEquals } from "@std/assert";
import { linkEvents, Netlink } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

Deno.test("linkEvents reports a link created and deleted in the namespace", async () => {
  await using ns = await Netns.create("events");
  const events = linkEvents({ netns: ns.path });
  try {
    await ns.sh("ip", "link", "add", "ev0", "type", "bridge");
    await ns.sh("ip", "link", "del", "ev0");
    const seen: string[] = [];
    for await (const ev of events) {
      if (ev.link.name !== "ev0") continue;
      seen.push(`${ev.type} ${ev.link.kind}`);
      if (ev.type === "del") break;
    }
    assertEquals(seen[0], "new bridge");
    assertEquals(seen.at(-1), "del bridge");
  } finally {
    events.close();
  }
});

Deno.test("linkEvents sees only its own namespace and ends after close()", async () => {
  await using a = await Netns.create("eva");
  await using b = await Netns.create("evb");
  const events = linkEvents({ netns: a.path });
  try {
    using nlb = Netlink.open({ netns: b.path });
    using nla = Netlink.open({ netns: a.path });
    nlb.linkAdd({ name: "other", kind: "ifb" });
    nla.linkAdd({ name: "mine", kind: "ifb" });
    const first = await events.next();
    assertEquals([first.value?.type, first.value?.link.name], ["new", "mine"]);
    events.close();
    assertEquals((await events.next()).done, true);
  } finally {
    events.close();
  }
});

Deno.test("linkEvents.close() ends every pending next()", async () => {
  await using ns = await Netns.create("evclose");
  const events = linkEvents({ netns: ns.path });
  const pending = [events.next(), events.next()];
  events.close();
  assertEquals((await Promise.all(pending)).map((r) => r.done), [true, true]);
});
