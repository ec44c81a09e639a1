// Small connection helpers of the front listener.

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

export function reasonOf(status: number): string {
  return REASONS[status] ?? "";
}

export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** Answers a status with no body and closes (errors ignored). */
export async function refuse(conn: Deno.Conn, code: number): Promise<void> {
  const text = `HTTP/1.1 ${code} ${reasonOf(code)}\r\n` +
    `Content-Length: 0\r\nConnection: close\r\n\r\n`;
  await writeAll(conn, new TextEncoder().encode(text)).catch(() => {});
}

/** Passes EOF on; never throws (the connection may be closed already). */
export async function halfClose(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch {
    // closed
  }
}

export function isOutOfFds(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "EMFILE" || code === "ENFILE" ||
    /too many open files/i.test((e as Error).message ?? "");
}

/** The connection with `rest` served first by read(). */
export function withPrefix(conn: Deno.Conn, rest: Uint8Array): Deno.Conn {
  if (rest.length === 0) return conn;
  let pending: Uint8Array | null = rest;
  const read = (buf: Uint8Array): Promise<number | null> => {
    if (!pending) return conn.read(buf);
    const n = Math.min(buf.length, pending.length);
    buf.set(pending.subarray(0, n));
    pending = n < pending.length ? pending.subarray(n) : null;
    return Promise.resolve(n);
  };
  return new Proxy(conn, {
    get(target, key) {
      if (key === "read") return read;
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

export function peerOf(conn: Deno.Conn): string {
  const a = conn.remoteAddr as Deno.NetAddr;
  return a.hostname.includes(":")
    ? `[${a.hostname}]:${a.port}`
    : `${a.hostname}:${a.port}`;
}
