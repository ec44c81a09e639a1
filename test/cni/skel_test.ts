// The skeleton's answers to bad input: each prints the spec's error JSON on
// stdout, exits 1 and leaves no state behind.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { cniEnv, filesIn, json, runExec, runIn } from "./_helpers.ts";

async function hostLocalConf(subnet = "10.77.0.0/24") {
  const dir = await Deno.makeTempDir({ prefix: "weft-skel-" });
  return {
    dir,
    conf: {
      cniVersion: "1.0.0",
      name: "skelnet",
      type: "host-local",
      ipam: { type: "host-local", dataDir: `${dir}/data`, subnet },
    },
  };
}

function assertError(
  r: { code: number; stdout: string },
  code: number,
  msg: RegExp,
) {
  assertEquals(r.code, 1, r.stdout);
  const e = json(r);
  assertEquals(e.code, code, r.stdout);
  assertMatch(String(e.msg), msg);
  assert(typeof e.cniVersion === "string");
}

Deno.test("skeleton: malformed JSON is code 6 and allocates nothing", async () => {
  const { dir } = await hostLocalConf();
  try {
    const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), "{");
    assertError(r, 6, /error unmarshalling network config/);
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: a JSON array instead of an object is code 6", async () => {
  const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), "[1]");
  assertError(r, 6, /error unmarshalling network config/);
});

Deno.test("skeleton: missing env is code 4 naming every missing variable", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const r = await runIn("host-local", { CNI_COMMAND: "ADD" }, conf);
    assertError(
      r,
      4,
      /^required env variables \[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH\] missing$/,
    );
    const del = await runIn("host-local", {
      CNI_COMMAND: "DEL",
      CNI_CONTAINERID: "c",
    }, conf);
    assertError(
      del,
      4,
      /^required env variables \[CNI_IFNAME,CNI_PATH\] missing$/,
    );
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: missing netns on ADD is code 4 naming CNI_NETNS", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const r = await runIn("host-local", cniEnv("ADD"), conf);
    assertError(r, 4, /\[CNI_NETNS\] missing/);
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: an unknown CNI_COMMAND is code 4", async () => {
  const r = await runIn("host-local", { CNI_COMMAND: "FROB" }, "{}");
  assertError(r, 4, /unknown CNI_COMMAND: FROB/);
});

Deno.test("skeleton: an unsupported cniVersion is code 1 incompatible CNI versions", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), {
      ...conf,
      cniVersion: "9.9.9",
    });
    assertError(r, 1, /^incompatible CNI versions$/);
    assertMatch(String(json(r).details), /9\.9\.9/);
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: a malformed cniVersion is incompatible (code 1), as the reference says", async () => {
  const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), {
    cniVersion: "one",
    name: "n",
    type: "host-local",
  });
  assertError(r, 1, /^incompatible CNI versions$/);
});

Deno.test("skeleton: missing network name is code 7", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const { name: _drop, ...noName } = conf;
    const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), noName);
    assertError(r, 7, /missing network name/);
    const bad = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), {
      ...conf,
      name: "bad/name",
    });
    assertError(bad, 7, /invalid characters found in network name/);
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: a bad subnet is code 7 and creates no data dir", async () => {
  for (
    const subnet of ["10.1.2.300/24", "10.0.0.0/31", "10.0.0.5/24", "nope"]
  ) {
    const { dir, conf } = await hostLocalConf(subnet);
    try {
      const r = await runIn("host-local", cniEnv("ADD", { netns: "/x" }), conf);
      assertEquals(r.code, 1, subnet);
      assertEquals(json(r).code, 7, r.stdout);
      assertEquals(filesIn(dir), [], subnet);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("skeleton: interface name rules are code 4", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const cases: [string, RegExp][] = [
      ["a-very-long-ifname0", /too long/],
      [".", /is \. or \.\./],
      ["..", /is \. or \.\./],
      ["et h0", /whitespace/],
      ["eth/0", /\//],
      ["eth:0", /:/],
    ];
    for (const [ifname, msg] of cases) {
      const r = await runIn(
        "host-local",
        cniEnv("ADD", { netns: "/x", ifname }),
        conf,
      );
      assertError(r, 4, msg);
    }
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: container id rules (empty 4-missing, bad characters 4)", async () => {
  const { conf } = await hostLocalConf();
  const missing = await runIn(
    "host-local",
    cniEnv("ADD", { netns: "/x", cid: "" }),
    conf,
  );
  assertError(missing, 4, /\[CNI_CONTAINERID\] missing/);
  const bad = await runIn(
    "host-local",
    cniEnv("ADD", { netns: "/x", cid: "-bad id" }),
    conf,
  );
  assertError(bad, 4, /invalid characters in containerID/);
});

Deno.test("skeleton: CHECK below 0.4.0 and GC/STATUS below 1.1.0 are code 1", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    for (const v of ["0.1.0", "0.2.0", "0.3.0", "0.3.1"]) {
      const r = await runIn("host-local", cniEnv("CHECK", { netns: "/x" }), {
        ...conf,
        cniVersion: v,
      });
      assertError(r, 1, /^config version does not allow CHECK$/);
    }
    for (const verb of ["GC", "STATUS"]) {
      const r = await runIn("host-local", cniEnv(verb), {
        ...conf,
        cniVersion: "1.0.0",
      });
      assertError(r, 1, new RegExp(`^config version does not allow ${verb}$`));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: no cniVersion means 0.1.0 and the result uses the 0.1.0 shape", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const { cniVersion: _v, ...unversioned } = conf;
    const r = await runIn(
      "host-local",
      cniEnv("ADD", { netns: "/x" }),
      unversioned,
    );
    assertEquals(r.code, 0, r.stdout);
    const out = json(r);
    assertEquals(out.cniVersion, "0.1.0");
    assertEquals(out.ip4, { ip: "10.77.0.2/24", gateway: "10.77.0.1" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: CNI_NETNS equal to the plugin's own netns is code 8 unless CNI_NETNS_OVERRIDE=1", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const own = `/proc/${Deno.pid}/ns/net`;
    const r = await runIn("host-local", cniEnv("ADD", { netns: own }), conf);
    assertError(r, 8, /should not be the same/);
    assertEquals(filesIn(dir), []);
    const ok = await runIn("host-local", {
      ...cniEnv("ADD", { netns: own }),
      CNI_NETNS_OVERRIDE: "1",
    }, conf);
    assertEquals(ok.code, 0, ok.stdout);
    await using ns = await Netns.create("skel");
    const other = await runIn(
      "host-local",
      cniEnv("ADD", { netns: ns.path, cid: "c2" }),
      conf,
    );
    assertEquals(other.code, 0, other.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: an exec'd plugin prints bad-input errors on stdout too", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const r = await runExec("host-local", cniEnv("ADD", { netns: "/x" }), {
      ...conf,
      cniVersion: "0.0.9",
    });
    assertError(r, 1, /incompatible CNI versions/);
    assertEquals(filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("skeleton: a config without type runs the plugin argv0 names", async () => {
  const { dir, conf } = await hostLocalConf();
  try {
    const { type: _t, ...untyped } = conf;
    const r = await runIn(
      "host-local",
      cniEnv("ADD", { netns: "/x" }),
      untyped,
    );
    assertEquals(r.code, 0, r.stdout);
    assertEquals(filesIn(`${dir}/data/skelnet`).includes("10.77.0.2"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
