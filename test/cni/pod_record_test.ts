// The pod records weft's flannel plugin leaves for the agent: where they
// live, what ADD writes (CNI_ARGS' K8S_POD_* names, the addresses), that
// DEL and GC remove them, that a record that cannot be written never fails
// the ADD, and that reading them back is bounded and validated.

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  parsePodRecord,
  podRecordDir,
  readPodRecords,
  writePodRecord,
} from "../../src/cni/pod_record.ts";
import { podKey } from "../../src/cli/cni_pods.ts";
import { cniEnv, filesIn, runIn } from "./_helpers.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "weft-pod-record-" });
  Deno.writeTextFileSync(
    `${dir}/subnet.env`,
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  const conf = {
    cniVersion: "1.1.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: `${dir}/subnet.env`,
    dataDir: `${dir}/flannel`,
    ipam: { dataDir: `${dir}/ipam` },
    delegate: { type: "host-local" },
  };
  const env = (verb: string, cid: string, args?: string) => ({
    ...cniEnv(verb, { cid, netns: "/x", path: `${dir}/bin`, args }),
    PATH: "/usr/bin:/bin",
  });
  return {
    dir,
    conf,
    env,
    records: `${dir}/weft-pods`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("podRecordDir() is the sibling weft-pods of flannel's dataDir", () => {
  assertEquals(podRecordDir("/var/lib/cni/flannel"), "/var/lib/cni/weft-pods");
  assertEquals(podRecordDir("/var/lib/cni/flannel/"), "/var/lib/cni/weft-pods");
  assertEquals(podRecordDir("/flannel"), "/weft-pods");
});

Deno.test("flannel ADD leaves a record with CNI_ARGS' pod name and the addresses; DEL removes it", async () => {
  await using s = await setup();
  const args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0";
  const r = await runIn("flannel", s.env("ADD", "c1", args), s.conf);
  assertEquals(r.code, 0, r.stdout);
  const [rec] = readPodRecords(s.records);
  assertEquals({ ...rec, added: "" }, {
    containerId: "c1",
    ifname: "eth0",
    netns: "/x",
    podNamespace: "shop",
    podName: "web-0",
    ips: ["10.42.7.2"],
    added: "",
  });
  assert(!Number.isNaN(Date.parse(rec.added)), rec.added);
  assertEquals(Deno.statSync(`${s.records}/c1`).mode! & 0o777, 0o600);
  assertEquals(Deno.statSync(s.records).mode! & 0o777, 0o700);
  assertEquals((await runIn("flannel", s.env("DEL", "c1"), s.conf)).code, 0);
  assertEquals(filesIn(s.records), []);
});

Deno.test("flannel GC removes the records of containers not in the valid list", async () => {
  await using s = await setup();
  for (const cid of ["keep", "gone"]) {
    assertEquals((await runIn("flannel", s.env("ADD", cid), s.conf)).code, 0);
  }
  const r = await runIn("flannel", s.env("GC", "x"), {
    ...s.conf,
    "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }],
  });
  assertEquals(r.code, 0, r.stdout);
  assertEquals(filesIn(s.records), ["keep"]);
});

Deno.test("a record that cannot be written does not fail the ADD (it is logged)", async () => {
  await using s = await setup();
  Deno.writeTextFileSync(s.records, "a file where the directory goes");
  const r = await runIn("flannel", s.env("ADD", "c1"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assert(r.stderr.includes("no pod record for c1"), r.stderr);
});

Deno.test("readPodRecords() skips what is not a valid record: bad JSON or shape, wrong name, temp and oversized files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-pod-records-" });
  try {
    const good = {
      containerId: "ok",
      ifname: "eth0",
      netns: "/run/netns/x",
      ips: ["10.42.7.9"],
      added: "2026-01-01T00:00:00.000Z",
    };
    writePodRecord(dir, good);
    Deno.writeTextFileSync(`${dir}/bad`, "{not json");
    Deno.writeTextFileSync(
      `${dir}/shape`,
      JSON.stringify({ ...good, containerId: "shape", ips: "10.0.0.1" }),
    );
    Deno.writeTextFileSync(`${dir}/other`, JSON.stringify(good));
    Deno.writeTextFileSync(
      `${dir}/big`,
      JSON.stringify({
        ...good,
        containerId: "big",
        netns: "x".repeat(20_000),
      }),
    );
    Deno.writeTextFileSync(`${dir}/ok.1.tmp`, JSON.stringify(good));
    Deno.mkdirSync(`${dir}/sub`);
    assertEquals(readPodRecords(dir), [{
      ...good,
      podName: undefined,
      podNamespace: undefined,
    }]);
    assertEquals(parsePodRecord(JSON.stringify({ ...good, podName: 7 })), null);
    assertEquals(parsePodRecord("null"), null);
    assertThrows(
      () => writePodRecord(dir, { ...good, containerId: "../escape" }),
      TypeError,
    );
    assertEquals(readPodRecords(`${dir}/missing`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("podKey(): valid K8S_POD_* names, else default/<node>-<id prefix or hash>", async () => {
  const rec = {
    containerId: "",
    ifname: "eth0",
    netns: "",
    ips: [],
    added: "",
  };
  assertEquals(
    await podKey("n1", {
      ...rec,
      containerId: "c",
      podNamespace: "shop",
      podName: "web-0",
    }),
    { namespace: "shop", name: "web-0" },
  );
  // Invalid names from CNI_ARGS (hostile or odd) are not used.
  for (
    const [ns, name] of [["Shop", "web"], ["shop", "../x"], ["shop", ""], [
      "a".repeat(64),
      "w",
    ]]
  ) {
    const k = await podKey("n1", {
      ...rec,
      containerId: "c",
      podNamespace: ns,
      podName: name,
    });
    assertEquals(k.namespace, "default");
  }
  assertEquals(
    await podKey("n1", { ...rec, containerId: "0123456789abcdef0123" }),
    { namespace: "default", name: "n1-0123456789ab" },
  );
  const hashed = await podKey("n1", { ...rec, containerId: "My_Container" });
  assert(/^n1-[0-9a-f]{12}$/.test(hashed.name), hashed.name);
  assertEquals(
    await podKey("n1", { ...rec, containerId: "My_Container" }),
    hashed,
  );
});
