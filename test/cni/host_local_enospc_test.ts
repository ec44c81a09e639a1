// host-local on a full disk (a 16 KiB tmpfs in a private mount namespace):
// ADDs fail with an I/O error once space runs out, and no empty or
// half-written IP file is ever left behind (upstream plugins#498).

import { assert, assertEquals } from "@std/assert";
import { MAIN } from "./_helpers.ts";

Deno.test("host-local on a full disk: code 5 and never an empty IP file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-enospc-" });
  try {
    const conf = JSON.stringify({
      cniVersion: "1.0.0",
      name: "full",
      type: "host-local",
      ipam: {
        type: "host-local",
        dataDir: `${dir}/mnt`,
        subnet: "10.120.0.0/24",
      },
    });
    Deno.mkdirSync(`${dir}/mnt`);
    Deno.writeTextFileSync(`${dir}/conf.json`, conf);
    const script = `set -e
mount -t tmpfs -o size=16k tmpfs ${dir}/mnt
for i in $(seq 1 12); do
  CNI_COMMAND=ADD CNI_CONTAINERID=c$i CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=/x \\
    bash -c 'exec -a host-local "${Deno.execPath()}" run -A "${MAIN}"' < ${dir}/conf.json \\
    | tr -d '\\n ' > ${dir}/out.$i || true
  echo >> ${dir}/out.$i
done
cd ${dir}/mnt/full && for f in *; do printf '%s %s\\n' "$f" "$(stat -c %s "$f")"; done`;
    const out = await new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "bash", "-c", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const files = Object.fromEntries(
      text.trim().split("\n").map((l) => l.split(" ")).map((
        [f, s],
      ) => [f, Number(s)]),
    );
    const results = Array.from(
      { length: 12 },
      (_, i) => JSON.parse(Deno.readTextFileSync(`${dir}/out.${i + 1}`)),
    );
    const ok = results.filter((r) => r.ips);
    const failed = results.filter((r) => r.code);
    assert(ok.length >= 1, "some ADDs fit");
    assert(failed.length >= 1, `the disk filled up: ${JSON.stringify(files)}`);
    for (const f of failed) assertEquals(f.code, 5, JSON.stringify(f));
    const ipFiles = Object.entries(files).filter(([f]) => /^\d/.test(f));
    assertEquals(ipFiles.length, ok.length, "one IP file per successful ADD");
    for (const [f, size] of ipFiles) assert(size > 0, `${f} is empty`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
