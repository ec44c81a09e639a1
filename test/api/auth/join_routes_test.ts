import { assertEquals, assertStringIncludes } from "@std/assert";
import { Hono } from "hono";
import {
  createAuthenticator,
  forgetNode,
  joinRoutes,
} from "../../../src/api/auth/mod.ts";
import { parseToken } from "../../../src/tls/mod.ts";
import { withServerPKI } from "../../harness/pki.ts";

interface Env {
  dir: string;
  app: Hono;
  agentSecret: string;
  serverSecret: string;
  caPem: string;
}

function withApp(fn: (env: Env) => Promise<void>): Promise<void> {
  return withServerPKI("weft-join-", async (dir, pki) => {
    const app = new Hono();
    joinRoutes(app, { dataDir: dir });
    await fn({
      dir,
      app,
      agentSecret: parseToken(pki.agentToken).password,
      serverSecret: parseToken(pki.token).password,
      caPem: pki.caPem,
    });
  });
}

const PW_A = "a".repeat(32);
const PW_B = "b".repeat(32);

function credential(env: Env, node: string, password: string, auth?: string) {
  return env.app.request("/v1-weft/node-credential", {
    method: "POST",
    headers: {
      authorization: auth ?? `Basic ${btoa(`node:${env.agentSecret}`)}`,
      "Weft-Node-Name": node,
      "Weft-Node-Password": password,
    },
  });
}

Deno.test("GET /cacerts serves the CA file's exact bytes without auth", () =>
  withApp(async (env) => {
    const res = await env.app.request("/cacerts");
    assertEquals(res.status, 200);
    assertEquals(await res.text(), env.caPem);
  }));

Deno.test("GET /ping answers pong", () =>
  withApp(async (env) => {
    const res = await env.app.request("/ping");
    assertEquals(await res.text(), "pong");
  }));

Deno.test("node-credential issues a node token the authenticator accepts", () =>
  withApp(async (env) => {
    const res = await credential(env, "node-a", PW_A);
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.nodeName, "node-a");
    assertEquals(body.user, "system:node:node-a");
    const id = await createAuthenticator({ dataDir: env.dir })(
      new Request("https://x/", {
        headers: { authorization: `Bearer ${body.token}` },
      }),
    );
    assertEquals(id?.node, "node-a");
  }));

Deno.test("node-credential accepts the server token and a bearer join token", () =>
  withApp(async (env) => {
    assertEquals(
      (await credential(
        env,
        "n1",
        PW_A,
        `Basic ${btoa(`server:${env.serverSecret}`)}`,
      )).status,
      200,
    );
    assertEquals(
      (await credential(env, "n2", PW_A, `Bearer ${env.agentSecret}`)).status,
      200,
    );
  }));

Deno.test("node-credential without a valid join token is 401", () =>
  withApp(async (env) => {
    for (
      const auth of [
        "",
        `Basic ${btoa("node:wrong")}`,
        `Basic ${btoa(`server:${env.agentSecret}`)}`,
        "Bearer nope",
      ]
    ) {
      const res = await credential(env, "node-a", PW_A, auth);
      assertEquals(res.status, 401, auth);
      assertEquals((await res.json()).kind, "Status");
    }
  }));

Deno.test("node-credential rejects a bad node name or a short password with 400", () =>
  withApp(async (env) => {
    assertEquals((await credential(env, "Bad_Name", PW_A)).status, 400);
    assertEquals((await credential(env, "", PW_A)).status, 400);
    assertEquals((await credential(env, "node-a", "short")).status, 400);
  }));

Deno.test("a second machine with the same node name is rejected with 403 and a way out", () =>
  withApp(async (env) => {
    assertEquals((await credential(env, "node-a", PW_A)).status, 200);
    const res = await credential(env, "node-a", PW_B);
    assertEquals(res.status, 403);
    const status = await res.json();
    assertEquals(status.reason, "Forbidden");
    assertStringIncludes(status.message, "Node password rejected");
    assertStringIncludes(status.message, "kubectl delete node node-a");
    assertStringIncludes(status.message, "weft token forget-node node-a");
    assertEquals((await credential(env, "node-a", PW_A)).status, 200);
  }));

Deno.test("after forgetNode() the name may join with a new password", () =>
  withApp(async (env) => {
    assertEquals((await credential(env, "node-a", PW_A)).status, 200);
    assertEquals((await credential(env, "node-a", PW_B)).status, 403);
    await forgetNode(env.dir, "node-a");
    assertEquals((await credential(env, "node-a", PW_B)).status, 200);
    assertEquals((await credential(env, "node-a", PW_A)).status, 403);
  }));
