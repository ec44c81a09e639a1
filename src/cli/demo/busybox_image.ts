// A busybox OCI image built on this machine from Debian's busybox-static (no
// registry is reachable): one uncompressed layer holding /bin/busybox and a
// link per applet, a config, a manifest and an index, laid out as an OCI
// image layout and packed into a tar that `ctr images import` takes. Only
// `tar` and SHA-256 (WebCrypto) are used. The demo's containers and the
// containerd e2e test and bench run it.

import { encodeHex } from "../../util/encoding.ts";
import { DemoError } from "./proc.ts";

export const BUSYBOX_IMAGE = "docker.io/weft/busybox:local";
export const BUSYBOX = "/bin/busybox";

/** The applets a test or the demo runs inside a container. */
const APPLETS = [
  "sh",
  "ash",
  "cat",
  "dd",
  "echo",
  "head",
  "httpd",
  "ip",
  "ifconfig",
  "ls",
  "md5sum",
  "mkdir",
  "nc",
  "ping",
  "sha256sum",
  "sleep",
  "timeout",
  "true",
  "wc",
  "wget",
];

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return encodeHex(d);
}

function ociArch(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

async function tar(args: string[]): Promise<void> {
  const out = await new Deno.Command("tar", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new DemoError(
      `tar ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Writes a blob under blobs/sha256/ and returns its descriptor. */
async function blob(
  layout: string,
  mediaType: string,
  bytes: Uint8Array<ArrayBuffer>,
  annotations?: Record<string, string>,
): Promise<
  {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
  }
> {
  const hex = await sha256(bytes);
  await Deno.writeFile(`${layout}/blobs/sha256/${hex}`, bytes);
  return {
    mediaType,
    digest: `sha256:${hex}`,
    size: bytes.length,
    ...(annotations ? { annotations } : {}),
  };
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/**
 * Builds the image as an OCI layout tar at `<dir>/busybox-oci.tar` and
 * returns its path; `name` is the reference ctr gives it on import.
 */
export async function buildBusyboxImage(
  dir: string,
  name = BUSYBOX_IMAGE,
): Promise<string> {
  try {
    await Deno.stat(BUSYBOX);
  } catch (e) {
    throw new DemoError(
      `${BUSYBOX} is missing: install busybox-static (bash scripts/install.sh)`,
      { cause: e },
    );
  }
  const rootfs = `${dir}/rootfs`;
  const layout = `${dir}/layout`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  for (const d of ["tmp", "proc", "sys", "dev", "etc", "www"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${rootfs}/tmp`, 0o1777);
  await Deno.copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const a of APPLETS) await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
  await Deno.writeTextFile(
    `${rootfs}/etc/passwd`,
    "root:x:0:0:root:/:/bin/sh\n",
  );
  await Deno.writeTextFile(`${rootfs}/etc/group`, "root:x:0:\n");

  // Fixed owner and mtime: the same busybox gives the same layer digest.
  const layerTar = `${dir}/layer.tar`;
  await tar([
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "-C",
    rootfs,
    "-cf",
    layerTar,
    ".",
  ]);
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const layerBytes = await Deno.readFile(layerTar);
  const layer = await blob(
    layout,
    "application/vnd.oci.image.layer.v1.tar",
    layerBytes,
  );
  const config = await blob(
    layout,
    "application/vnd.oci.image.config.v1+json",
    json({
      architecture: ociArch(),
      os: "linux",
      config: {
        Env: ["PATH=/bin"],
        Cmd: ["sh"],
        WorkingDir: "/",
      },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
      history: [{ created_by: "weft test harness: busybox-static" }],
    }),
  );
  const manifest = await blob(
    layout,
    "application/vnd.oci.image.manifest.v1+json",
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers: [layer],
    }),
    {
      "io.containerd.image.name": name,
      "org.opencontainers.image.ref.name": name.split(":").pop()!,
    },
  );
  await Deno.writeTextFile(
    `${layout}/oci-layout`,
    JSON.stringify({ imageLayoutVersion: "1.0.0" }),
  );
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [manifest],
    }),
  );
  const out = `${dir}/busybox-oci.tar`;
  await tar(["-C", layout, "-cf", out, "oci-layout", "index.json", "blobs"]);
  return out;
}
