// The server side: the websocket endpoint agents connect to (one session per
// node; a newer one replaces the older), the CONNECT proxy for admins that
// routes by egress selector mode, and the node proxy through the tunnel.

import { closeQuietly } from "../util/close.ts";
import { type Identity, isAdmin, nodeOf } from "../api/auth/mod.ts";
import type { Node, Pod } from "../kube/mod.ts";
import { httpOverStream } from "./http1.ts";
import { MAX_FRAME } from "./frame.ts";
import { routeFor } from "./route.ts";
import type { WsConn } from "./ws_conn.ts";
import { pipeStream, type Session, type SessionOptions } from "./session.ts";
import { sessionOn } from "./socket.ts";
import { serveUpgrade, statusBody } from "./ws_accept.ts";
import {
  checkMode,
  CONNECT_PATH,
  DEFAULT_NODE_ENDPOINT_PORT,
  type EgressMode,
  NODE_HEADER,
  parseTarget,
} from "./target.ts";

export { CONNECT_PATH, NODE_HEADER };

export interface TunnelServerDeps {
  authenticate: (req: Request) => Promise<Identity | null>;
  mode: EgressMode;
  /** The cluster's nodes (addresses, pod CIDRs, labels). */
  listNodes: () => Promise<Node[]>;
  /** The cluster's pods (cluster mode). */
  listPods?: () => Promise<Pod[]>;
  /** Default 10250. */
  nodeEndpointPort?: number;
  /** The server's own node: dialled directly. */
  localNode?: string;
  /** Direct dial (default Deno.connect). */
  dial?: (host: string, port: number) => Promise<Deno.Conn>;
  log?: (msg: string) => void;
  /** A node's session came up, or closed (`why`): for events. Never
   * awaited; must not throw. */
  onSession?: (node: string, up: boolean, why?: string) => void;
  /** Keepalive/sync tuning of the sessions. */
  session?: Partial<Omit<SessionOptions, "role" | "accept">>;
}

export interface TunnelServer {
  /** The path agents open their websocket on (CONNECT_PATH). */
  path: string;
  /** Takes over a connection whose request head (text, without the blank
   * line) asks for `path`; `rest` is what the client sent behind it. */
  upgrade(conn: Deno.Conn, head: string, rest: Uint8Array): Promise<void>;
  connect(
    conn: Deno.Conn,
    head: { target: string; headers: Headers },
    identity: Identity | null,
  ): Promise<void>;
  nodeProxy(node: string, path: string, req: Request): Promise<Response>;
  /** Live sessions by node name. */
  sessions: ReadonlyMap<string, Session>;
  /** Closes every session. */
  close(): void;
}

function status(code: number, reason: string, message: string): Response {
  return Response.json(statusBody(code, reason, message), { status: code });
}

async function reply(conn: Deno.Conn, code: number, text: string, why = "") {
  const body = new TextEncoder().encode(why ? `${why}\n` : "");
  const head = `HTTP/1.1 ${code} ${text}\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const all = new Uint8Array([...new TextEncoder().encode(head), ...body]);
  for (let off = 0; off < all.length;) {
    off += await conn.write(all.subarray(off));
  }
}

/** Copies two connections into each other (half-closes passed on) until
 * both directions end, then closes both. */
async function pipeConns(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const one = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      const buf = new Uint8Array(256 * 1024);
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
      }
      await to.closeWrite();
    } catch {
      closeQuietly(a);
      closeQuietly(b);
    }
  };
  await Promise.all([one(a, b), one(b, a)]);
  closeQuietly(a);
  closeQuietly(b);
}

export function tunnelServer(deps: TunnelServerDeps): TunnelServer {
  const mode = checkMode(deps.mode);
  const port = deps.nodeEndpointPort ?? DEFAULT_NODE_ENDPOINT_PORT;
  const log = deps.log ?? (() => {});
  const sessions = new Map<string, Session>();
  const dial = deps.dial ??
    ((hostname: string, p: number) => Deno.connect({ hostname, port: p }));

  const attach = (node: string, ws: WsConn, revoked?: AbortSignal) => {
    const s = sessionOn(ws, { ...deps.session, role: "server", log });
    const old = sessions.get(node);
    sessions.set(node, s);
    old?.close("replaced by a newer session of the same node");
    log(`tunnel: session up for node ${node}`);
    // A session lives no longer than the credential it was opened with.
    const onRevoked = () => s.close("the node's credential was revoked");
    revoked?.addEventListener("abort", onRevoked, { once: true });
    if (revoked?.aborted) onRevoked();
    deps.onSession?.(node, true);
    s.done.then((why) => {
      revoked?.removeEventListener("abort", onRevoked);
      if (sessions.get(node) === s) sessions.delete(node);
      log(`tunnel: session of node ${node} closed: ${why}`);
      deps.onSession?.(node, false, why);
    });
    // The connection is the caller's until the close frames have gone.
    return ws.gone;
  };

  /** Who may open a session: a node credential, for its own node. */
  const authorize = async (req: Request) => {
    const id = await deps.authenticate(req);
    if (!id) {
      return { status: 401, reason: "Unauthorized", message: "Unauthorized" };
    }
    const node = nodeOf(id);
    const claimed = req.headers.get(NODE_HEADER) ?? undefined;
    if (!node || (claimed !== undefined && claimed !== node)) {
      return {
        status: 403,
        reason: "Forbidden",
        message: `${id.user} cannot open a tunnel${
          claimed ? ` for node ${claimed}` : ""
        }`,
      };
    }
    return { node, revoked: id.revoked };
  };

  const upgrade: TunnelServer["upgrade"] = async (conn, head, rest) => {
    const opened = await serveUpgrade(conn, head, rest, {
      authorize,
      maxMessage: MAX_FRAME,
      log,
    });
    if (opened) await attach(opened.node, opened.ws, opened.revoked);
  };

  const tunnelTo = async (node: string, target: string) => {
    const s = sessions.get(node);
    if (!s) throw new Error(`no tunnel session for node ${node}`);
    return await s.open(target);
  };

  const connect: TunnelServer["connect"] = async (conn, head, identity) => {
    if (!identity) return await reply(conn, 401, "Unauthorized");
    if (!isAdmin(identity)) {
      return await reply(
        conn,
        403,
        "Forbidden",
        `${identity.user} may not CONNECT`,
      );
    }
    let to;
    try {
      to = parseTarget(head.target);
    } catch (e) {
      return await reply(conn, 400, "Bad Request", (e as Error).message);
    }
    try {
      const [nodes, pods] = mode === "disabled" ? [[], []] : await Promise.all([
        deps.listNodes(),
        mode === "cluster" && deps.listPods ? deps.listPods() : [],
      ]);
      const r = routeFor(to, nodes, pods, {
        mode,
        nodeEndpointPort: port,
        localNode: deps.localNode,
      });
      if (r.kind === "tunnel") {
        const s = await tunnelTo(r.node, r.target);
        try {
          await reply(conn, 200, "Connection established");
        } catch (e) {
          s.reset("the CONNECT client went away");
          throw e;
        }
        await pipeStream(s, conn);
      } else {
        const { host, port: p } = parseTarget(r.target);
        const up = await dial(host, p);
        try {
          await reply(conn, 200, "Connection established");
        } catch (e) {
          up.close();
          throw e;
        }
        await pipeConns(conn, up);
      }
    } catch (e) {
      log(`tunnel: CONNECT ${head.target}: ${(e as Error).message}`);
      await reply(conn, 502, "Bad Gateway", (e as Error).message).catch(
        () => {},
      );
    }
  };

  const nodeProxy = async (node: string, path: string, req: Request) => {
    let s;
    try {
      s = await tunnelTo(node, `127.0.0.1:${port}`);
    } catch (e) {
      return status(502, "ServiceUnavailable", (e as Error).message);
    }
    try {
      return await httpOverStream(s, req, path, `127.0.0.1:${port}`);
    } catch (e) {
      s.reset("proxy failed");
      return status(
        502,
        "ServiceUnavailable",
        `node ${node}: ${(e as Error).message}`,
      );
    }
  };

  return {
    path: CONNECT_PATH,
    upgrade,
    connect,
    nodeProxy,
    sessions,
    close: () => {
      for (const s of sessions.values()) s.close("server stopping");
    },
  };
}
