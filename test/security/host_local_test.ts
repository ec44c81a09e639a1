// Issue 11 row 12: host-local allocated from 0.0.0.0/0 and ::/0 (e.g.
// 0.0.0.2/0) where the reference plugin refuses, and rejected an empty
// `dataDir` where the reference uses its default. Now ADD on a /0 range
// fails as the reference's does (code 999, no address file written) and an
// empty dataDir means /var/lib/cni/networks.

import { assertEquals, assertMatch } from "@std/assert";
import { DEFAULT_DATA_DIR, loadConfig } from "../../src/cni/host_local/mod.ts";
import type { PluginContext } from "../../src/cni/plugin.ts";
import {
  cniEnv,
  filesIn,
  json,
  REFERENCE_DIR,
  runIn,
  runReference,
} from "../cni/_helpers.ts";

const haveReference = (() => {
  try {
    Deno.statSync(`${REFERENCE_DIR}/host-local`);
    return true;
  } catch {
    return false;
  }
})();
if (!haveReference) {
  console.log(
    `host-local /0 differential test skipped: ${REFERENCE_DIR}/host-local is missing (apt-get install containernetworking-plugins)`,
  );
}

async function addOn(subnet: string, who: "weft" | "ref") {
  const dir = await Deno.makeTempDir({ prefix: "weft-sec-hl-" });
  try {
    const conf = {
      cniVersion: "1.0.0",
      name: "net0",
      type: "host-local",
      ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet }]] },
    };
    const env = cniEnv("ADD", { cid: "c1", netns: "/x" });
    const r = who === "weft"
      ? await runIn("host-local", env, conf)
      : await runReference("host-local", env, conf);
    let files: string[] = [];
    try {
      files = filesIn(`${dir}/net0`).filter((f) =>
        f !== "lock" && !f.startsWith("last_")
      );
    } catch {
      // no network dir: nothing allocated
    }
    return {
      code: r.code,
      out: json<{ code?: number; msg?: string }>(r),
      files,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("security row 12: host-local refuses to allocate from a /0 range", async () => {
  for (const subnet of ["0.0.0.0/0", "::/0"]) {
    const r = await addOn(subnet, "weft");
    assertEquals(r.code, 1, `${subnet}: ${JSON.stringify(r.out)}`);
    assertEquals(r.out.code, 999);
    assertMatch(r.out.msg!, /failed to allocate for range 0/);
    assertEquals(r.files, []);
  }
  const ok = await addOn("10.9.0.0/24", "weft");
  assertEquals(ok.code, 0);
  assertEquals(ok.files, ["10.9.0.2"]);
});

Deno.test({
  name: "security row 12: host-local and the reference both refuse a /0 range",
  ignore: !haveReference,
  fn: async () => {
    for (const subnet of ["0.0.0.0/0", "::/0", "10.9.0.0/24"]) {
      const [w, ref] = [
        await addOn(subnet, "weft"),
        await addOn(subnet, "ref"),
      ];
      assertEquals(
        [w.code, w.out.code, w.files],
        [ref.code, ref.out.code, ref.files],
        subnet,
      );
    }
  },
});

function ctx(ipam: Record<string, unknown>): PluginContext {
  return {
    command: "ADD",
    containerId: "c1",
    netns: "/x",
    ifname: "eth0",
    args: {},
    path: [],
    env: {},
    config: {
      cniVersion: "1.0.0",
      name: "net0",
      type: "host-local",
      ipam: { type: "host-local", subnet: "10.9.0.0/24", ...ipam },
    },
  };
}

Deno.test("security row 12: an empty dataDir means the reference's default", () => {
  assertEquals(DEFAULT_DATA_DIR, "/var/lib/cni/networks");
  assertEquals(loadConfig(ctx({ dataDir: "" })).dataDir, DEFAULT_DATA_DIR);
  assertEquals(loadConfig(ctx({})).dataDir, DEFAULT_DATA_DIR);
  assertEquals(loadConfig(ctx({ dataDir: "/tmp/x" })).dataDir, "/tmp/x");
});
