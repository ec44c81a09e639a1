import { assertEquals } from "@std/assert";
import { resolveConfig } from "../../src/cli/config.ts";
import { serverUrlOf, sharedDatastore } from "../../src/cli/server_ha.ts";

const cfg = (...args: string[]) =>
  resolveConfig({ command: "server", args, env: {}, readFile: () => null });

Deno.test("serverUrlOf: --advertise-address, else the external IP, else the node IP (K3s's order)", async () => {
  assertEquals(
    serverUrlOf(
      await cfg("--node-ip", "10.0.0.5", "--https-listen-port", "7443"),
    ),
    "https://10.0.0.5:7443",
  );
  assertEquals(
    serverUrlOf(
      await cfg("--node-ip", "10.0.0.5", "--node-external-ip", "203.0.113.9"),
    ),
    "https://203.0.113.9:6443",
  );
  assertEquals(
    serverUrlOf(
      await cfg("--node-ip", "10.0.0.5", "--advertise-address", "fd00::7"),
    ),
    "https://[fd00::7]:6443",
  );
});

Deno.test("sharedDatastore: etcd endpoints are shared, SQLite is not", async () => {
  assertEquals(sharedDatastore(await cfg()), false);
  assertEquals(
    sharedDatastore(await cfg("--datastore-endpoint", "sqlite:///x/state.db")),
    false,
  );
  assertEquals(
    sharedDatastore(
      await cfg("--datastore-endpoint", "https://e1:2379,https://e2"),
    ),
    true,
  );
});
