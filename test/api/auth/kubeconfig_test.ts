import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { parse } from "@std/yaml";
import {
  parseFileMode,
  writeAdminKubeconfig,
} from "../../../src/api/auth/mod.ts";
import { fromKubeconfig, kubeconfigOptions } from "../../../src/kube/mod.ts";

const CA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

Deno.test("writeAdminKubeconfig() writes a 0600 kubeconfig that loads back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-kcfg-" });
  try {
    const path = `${dir}/etc/weft.yaml`;
    await writeAdminKubeconfig({
      path,
      server: "https://127.0.0.1:6443",
      caPem: CA,
      token: "weft-admin:abc",
    });
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    const doc = parse(await Deno.readTextFile(path)) as Record<string, unknown>;
    assertEquals(doc["current-context"], "default");
    const opts = await kubeconfigOptions(await Deno.readTextFile(path), dir);
    assertEquals(opts, {
      server: "https://127.0.0.1:6443",
      caPem: CA,
      token: "weft-admin:abc",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeAdminKubeconfig() honours --write-kubeconfig-mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-kcfg-" });
  try {
    const path = `${dir}/weft.yaml`;
    await writeAdminKubeconfig({
      path,
      mode: parseFileMode("644"),
      server: "https://h:6443",
      caPem: CA,
      token: "t",
    });
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    await assertRejects(
      () =>
        writeAdminKubeconfig({
          path,
          mode: 0o1777,
          server: "https://h:6443",
          caPem: CA,
          token: "t",
        }),
      RangeError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseFileMode() reads octal and rejects anything else", () => {
  assertEquals(parseFileMode("600"), 0o600);
  assertEquals(parseFileMode("0644"), 0o644);
  assertThrows(() => parseFileMode("999"), RangeError);
  assertThrows(() => parseFileMode("rw-r--r--"), RangeError);
});

Deno.test("kubectl accepts the written kubeconfig", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-kcfg-" });
  try {
    const path = `${dir}/weft.yaml`;
    await writeAdminKubeconfig({
      path,
      server: "https://127.0.0.1:6443",
      caPem: CA,
      token: "weft-admin:abc",
    });
    const out = await new Deno.Command("kubectl", {
      args: [
        "--kubeconfig",
        path,
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.users[0].user.token} {.clusters[0].cluster.server}",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stderr), "");
    assertEquals(
      new TextDecoder().decode(out.stdout),
      "weft-admin:abc https://127.0.0.1:6443",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fromKubeconfig() names a missing file in its error", async () => {
  await assertRejects(
    () => fromKubeconfig("/nonexistent/weft.yaml"),
    Error,
    "/nonexistent/weft.yaml",
  );
});
