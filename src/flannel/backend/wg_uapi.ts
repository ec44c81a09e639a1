// The cross-platform WireGuard UAPI (the text protocol wireguard-go serves
// on /var/run/wireguard/<dev>.sock): `get=1` reads the device, `set=1` with
// key=value lines changes it; both end with an empty line and the reply
// ends with `errno=N` and an empty line.

import { FlannelError } from "../errors.ts";

export interface WgPeer {
  /** Hex public key, as UAPI prints it. */
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  allowedIPs: string[];
  keepalive: number;
}

export interface WgState {
  /** Hex private key, or null when none is set. */
  privateKey: string | null;
  listenPort: number;
  peers: WgPeer[];
}

/** A UAPI request that failed: the daemon's errno, or an I/O problem. */
export class UapiError extends FlannelError {
  override name = "UapiError";
  constructor(
    readonly socket: string,
    message: string,
    readonly errno?: number,
    options?: ErrorOptions,
  ) {
    super(`wireguard UAPI ${socket}: ${message}`, options);
  }
}

const ZERO_KEY = "0".repeat(64);
const TIMEOUT_MS = 10_000;

async function exchange(
  socket: string,
  request: string,
  timeoutMs = TIMEOUT_MS,
): Promise<string> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch (e) {
    throw new UapiError(socket, `cannot connect: ${(e as Error).message}`, 0, {
      cause: e,
    });
  }
  // A daemon that stops reading or never answers must not hang the task: the
  // exchange races a timer (closing the connection does not cancel a write
  // already waiting for socket buffer space).
  const talk = (async () => {
    const data = new TextEncoder().encode(request);
    for (let off = 0; off < data.length;) {
      off += await conn.write(data.subarray(off));
    }
    const chunks: string[] = [];
    const dec = new TextDecoder();
    const buf = new Uint8Array(16384);
    let text = "";
    while (!/(^|\n)errno=-?\d+\n\n$/.test(text)) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(dec.decode(buf.subarray(0, n), { stream: true }));
      text = chunks.join("");
    }
    return text;
  })();
  talk.catch(() => {}); // settled late after a timeout: nobody waits for it
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  let text: string | null;
  try {
    text = await Promise.race([talk, timeout]);
  } catch (e) {
    throw new UapiError(socket, `I/O error: ${(e as Error).message}`, 0, {
      cause: e,
    });
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
  if (text === null) {
    throw new UapiError(socket, `no answer in ${timeoutMs} ms`);
  }
  const m = /(?:^|\n)errno=(-?\d+)\n\n$/.exec(text);
  if (!m) {
    throw new UapiError(socket, `reply ended without errno: ${text}`);
  }
  const errno = Number(m[1]);
  if (errno !== 0) {
    throw new UapiError(socket, `request refused with errno ${errno}`, errno);
  }
  return text.slice(0, m.index + (m[0].startsWith("\n") ? 1 : 0));
}

/** Reads the device's configuration (`get=1`). */
export async function uapiGet(
  socket: string,
  opts: { timeoutMs?: number } = {},
): Promise<WgState> {
  const text = await exchange(socket, "get=1\n\n", opts.timeoutMs);
  const state: WgState = { privateKey: null, listenPort: 0, peers: [] };
  let peer: WgPeer | null = null;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === "public_key") {
      peer = {
        publicKey: value,
        presharedKey: null,
        endpoint: null,
        allowedIPs: [],
        keepalive: 0,
      };
      state.peers.push(peer);
    } else if (!peer) {
      if (key === "private_key") {
        state.privateKey = value === ZERO_KEY ? null : value;
      }
      if (key === "listen_port") state.listenPort = Number(value);
    } else if (key === "preshared_key") {
      peer.presharedKey = value === ZERO_KEY ? null : value;
    } else if (key === "endpoint") {
      peer.endpoint = value;
    } else if (key === "allowed_ip") {
      peer.allowedIPs.push(value);
    } else if (key === "persistent_keepalive_interval") {
      peer.keepalive = Number(value);
    }
  }
  return state;
}

/** Applies `set=1` with these key=value lines. */
export async function uapiSet(
  socket: string,
  lines: string[],
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  for (const l of lines) {
    if (l.includes("\n")) {
      throw new TypeError(`UAPI line contains a newline: ${JSON.stringify(l)}`);
    }
  }
  await exchange(
    socket,
    `set=1\n${lines.map((l) => `${l}\n`).join("")}\n`,
    opts.timeoutMs,
  );
}
