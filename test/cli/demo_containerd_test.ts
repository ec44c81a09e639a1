// The demo's containerd helpers: which cgroup mounts of the host are made
// again inside a node (for runc), the OCI layout of the busybox image, and
// a cleanup that leaves no process behind even when the node's holder
// died first (as on a Ctrl-C to the demo's process group). The last one
// runs a node of its own with Debian's reference plugins (no weft cluster).

import { assert, assertEquals } from "@std/assert";
import {
  hostCgroupMounts,
  NodeContainerd,
} from "../../src/cli/demo/containerd.ts";
import {
  buildBusyboxImage,
  BUSYBOX_IMAGE,
} from "../../src/cli/demo/busybox_image.ts";
import { Netns } from "../harness/netns.ts";

Deno.test("hostCgroupMounts() keeps a hybrid host's tmpfs, v1 controllers and cgroup2, in order", () => {
  const info = [
    "23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw",
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
    "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
    "50 23 0:40 / /sys/fs/cgroupx rw - cgroup cgroup rw,pids",
    "51 31 0:41 / /sys/fs/cgroup/bpf rw - bpf bpf rw",
    "garbage line without separator",
  ].join("\n");
  assertEquals(hostCgroupMounts(info), [
    { path: "/sys/fs/cgroup", fstype: "tmpfs", options: "" },
    {
      path: "/sys/fs/cgroup/cpu,cpuacct",
      fstype: "cgroup",
      options: "cpu,cpuacct",
    },
    {
      path: "/sys/fs/cgroup/systemd",
      fstype: "cgroup",
      options: "xattr,name=systemd",
    },
    { path: "/sys/fs/cgroup/unified", fstype: "cgroup2", options: "" },
  ]);
});

Deno.test("hostCgroupMounts() on a unified host is the one cgroup2 mount", () => {
  const info =
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
  assertEquals(hostCgroupMounts(info), [
    { path: "/sys/fs/cgroup", fstype: "cgroup2", options: "" },
  ]);
});

Deno.test("buildBusyboxImage() writes an OCI layout whose digests match its blobs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-busybox-image-" });
  try {
    const tar = await buildBusyboxImage(dir, "docker.io/weft/busybox:t");
    const out = `${dir}/x`;
    await Deno.mkdir(out);
    const r = await new Deno.Command("tar", { args: ["-C", out, "-xf", tar] })
      .output();
    assertEquals(r.code, 0);
    const index = JSON.parse(await Deno.readTextFile(`${out}/index.json`));
    const [m] = index.manifests;
    assertEquals(
      m.annotations["io.containerd.image.name"],
      "docker.io/weft/busybox:t",
    );
    const blob = async (digest: string) => {
      const bytes = await Deno.readFile(
        `${out}/blobs/sha256/${digest.slice(7)}`,
      );
      const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const hex = [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
      return { bytes, hex };
    };
    const man = await blob(m.digest);
    assertEquals(`sha256:${man.hex}`, m.digest);
    assertEquals(man.bytes.length, m.size);
    const manifest = JSON.parse(new TextDecoder().decode(man.bytes));
    for (const d of [manifest.config, ...manifest.layers]) {
      const b = await blob(d.digest);
      assertEquals(`sha256:${b.hex}`, d.digest);
      assertEquals(b.bytes.length, d.size);
    }
    const config = JSON.parse(
      new TextDecoder().decode((await blob(manifest.config.digest)).bytes),
    );
    assertEquals(config.rootfs.diff_ids, [manifest.layers[0].digest]);
    const list = await new Deno.Command("tar", {
      args: [
        "-tf",
        `${out}/blobs/sha256/${manifest.layers[0].digest.slice(7)}`,
      ],
    }).output();
    const files = new TextDecoder().decode(list.stdout).split("\n");
    for (
      const f of ["./bin/busybox", "./bin/sh", "./bin/httpd", "./bin/wget"]
    ) {
      assertEquals(files.includes(f), true, f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function aliveNow(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("NodeContainerd.stop() ends containerd, shims and containers even after the node's holder died", async () => {
  await using ns = await Netns.create("ctrd");
  const work = await Deno.makeTempDir({ prefix: "weft-ctrd-stop-" });
  const holder = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      "unshare",
      "--mount",
      "--propagation",
      "slave",
      "sh",
      "-c",
      "mount -t tmpfs t /var/lib/cni && mount -t tmpfs t /etc/cni && echo ready && exec sleep infinity",
    ],
    stdout: "piped",
  }).spawn();
  let rt: NodeContainerd | undefined;
  try {
    const r = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await r.read()).value?.trim(), "ready");
    r.releaseLock();
    holder.stdout.cancel().catch(() => {});
    const conf = `${work}/net.d`;
    await Deno.mkdir(conf);
    await Deno.writeTextFile(
      `${conf}/10-ref.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "ref",
        plugins: [{
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.99.7.0/24" }]] },
        }],
      }),
    );
    rt = await NodeContainerd.start({
      node: "n",
      holderPid: holder.pid,
      workDir: `${work}/ctrd`,
      cniBinDir: "/usr/lib/cni",
      cniConfDir: conf,
      namespace: `weft-t-stop-${Deno.pid}`,
    });
    await rt.importImage(await buildBusyboxImage(`${work}/image`));
    const c = await rt.run("c1", BUSYBOX_IMAGE, ["sleep", "3600"]);
    assertEquals(await c.ipv4(), "10.99.7.2");
    const pids = [rt.pid!, c.pid, c.proc.pid];
    assert(pids.every(aliveNow), "containerd, the container and ctr run");

    holder.kill("SIGKILL");
    await holder.status;
    await rt.stop();
    assertEquals(pids.filter(aliveNow), [], "all of them are gone");
    const shims = (await new Deno.Command("pgrep", {
      args: [
        "-f",
        `containerd-shim-runc-v2 -namespace weft-t-stop-${Deno.pid} `,
      ],
    }).output()).stdout;
    assertEquals(new TextDecoder().decode(shims).trim(), "", "no shim left");
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch {
      // already gone
    }
    await holder.status;
    await rt?.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
