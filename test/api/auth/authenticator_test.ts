import { assertEquals } from "@std/assert";
import {
  ADMIN_GROUP,
  createAuthenticator,
  ensureAdminToken,
  forgetNode,
  nodeCredentials,
  NODES_GROUP,
} from "../../../src/api/auth/mod.ts";
import { parseToken, type ServerPKI } from "../../../src/tls/mod.ts";
import { withServerPKI } from "../../harness/pki.ts";

function withServer(
  fn: (dir: string, pki: ServerPKI) => Promise<void>,
): Promise<void> {
  return withServerPKI("weft-auth-", fn);
}

const req = (auth?: string) =>
  new Request("https://x/api/v1/nodes", {
    headers: auth ? { authorization: auth } : {},
  });

Deno.test("authenticate() maps the admin token to system:admin in system:masters", () =>
  withServer(async (dir) => {
    const auth = createAuthenticator({ dataDir: dir });
    const token = await ensureAdminToken(dir);
    assertEquals(await ensureAdminToken(dir), token);
    const id = await auth(req(`Bearer ${token}`));
    assertEquals(id?.user, "system:admin");
    assertEquals(id?.groups.includes(ADMIN_GROUP), true);
    assertEquals(
      (await Deno.stat(`${dir}/server/cred/admin-token`)).mode! & 0o777,
      0o600,
    );
  }));

Deno.test("authenticate() picks up a token file rewritten on disk", () =>
  withServer(async (dir, pki) => {
    const auth = createAuthenticator({ dataDir: dir, recheckMs: 0 });
    assertEquals(
      (await auth(req(`Bearer ${pki.token}`)))?.user,
      "system:admin",
    );
    const next = pki.token.replace(/:[0-9a-f]+$/, ":0123456789abcdef");
    await Deno.writeTextFile(pki.tokenFile, next + "\n");
    assertEquals(await auth(req(`Bearer ${pki.token}`)), null);
    assertEquals((await auth(req(`Bearer ${next}`)))?.user, "system:admin");
  }));

Deno.test("authenticate() accepts the server token, full or bare secret, as admin", () =>
  withServer(async (dir, pki) => {
    const auth = createAuthenticator({ dataDir: dir });
    assertEquals(
      (await auth(req(`Bearer ${pki.token}`)))?.user,
      "system:admin",
    );
    assertEquals(
      (await auth(req(`Bearer ${parseToken(pki.token).password}`)))?.user,
      "system:admin",
    );
  }));

Deno.test("authenticate() maps a node token to system:node:<name> in system:nodes", () =>
  withServer(async (dir) => {
    const auth = createAuthenticator({ dataDir: dir });
    const token = await nodeCredentials(dir).issue("node-a", "p".repeat(32));
    const { revoked, ...id } = (await auth(req(`Bearer ${token}`)))!;
    assertEquals(id, {
      user: "system:node:node-a",
      groups: [NODES_GROUP, "system:authenticated"],
      node: "node-a",
    });
    assertEquals(revoked?.aborted, false);
  }));

Deno.test("authenticate() revokes a node's older token when a new one is issued", () =>
  withServer(async (dir) => {
    const auth = createAuthenticator({ dataDir: dir });
    const creds = nodeCredentials(dir);
    const first = await creds.issue("node-a", "p".repeat(32));
    const second = await creds.issue("node-a", "p".repeat(32));
    assertEquals(await auth(req(`Bearer ${first}`)), null);
    assertEquals((await auth(req(`Bearer ${second}`)))?.node, "node-a");
  }));

Deno.test("authenticate() rejects a node token after forgetNode()", () =>
  withServer(async (dir) => {
    const auth = createAuthenticator({ dataDir: dir });
    const token = await nodeCredentials(dir).issue("node-a", "p".repeat(32));
    assertEquals(await forgetNode(dir, "node-a"), true);
    assertEquals(await forgetNode(dir, "node-a"), false);
    assertEquals(await auth(req(`Bearer ${token}`)), null);
  }));

Deno.test("authenticate() returns null for garbage, a forged node token, Basic, the agent token and no header", () =>
  withServer(async (dir, pki) => {
    const auth = createAuthenticator({ dataDir: dir });
    await ensureAdminToken(dir);
    const real = await nodeCredentials(dir).issue("node-a", "p".repeat(32));
    const forged = real.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
    const other = real.replace("weft-node:node-a:", "weft-node:node-b:");
    for (
      const h of [
        undefined,
        "Bearer",
        "Bearer garbage",
        `Bearer ${forged}`,
        `Bearer ${other}`,
        `Bearer ${pki.agentToken}`,
        `Basic ${btoa(`server:${parseToken(pki.token).password}`)}`,
        `Token ${pki.token}`,
      ]
    ) {
      assertEquals(await auth(req(h)), null, String(h));
    }
  }));

Deno.test("node secrets are stored hashed, never in clear", () =>
  withServer(async (dir) => {
    const password = "0123456789abcdef0123456789abcdef";
    const token = await nodeCredentials(dir).issue("node-a", password);
    const path = `${dir}/server/cred/node-passwd.json`;
    const text = await Deno.readTextFile(path);
    assertEquals(text.includes(password), false);
    assertEquals(text.includes(token.split(":")[2]), false);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  }));

Deno.test("authenticate() sees `forget-node` done by another process", () =>
  withServer(async (dir) => {
    const auth = createAuthenticator({ dataDir: dir });
    const token = await nodeCredentials(dir).issue("node-a", "p".repeat(32));
    assertEquals((await auth(req(`Bearer ${token}`)))?.node, "node-a");
    const mod = new URL("../../../src/api/auth/mod.ts", import.meta.url).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const { forgetNode } = await import(${
          JSON.stringify(mod)
        }); console.log(await forgetNode(${JSON.stringify(dir)}, "node-a"));`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "true");
    // Another process's change is picked up at the next recheck (1 s).
    for (let i = 0; (await auth(req(`Bearer ${token}`))) !== null; i++) {
      if (i > 500) {
        throw new Error("the forgotten node's token is still accepted");
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }));
