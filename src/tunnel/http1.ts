// A minimal HTTP/1.1 client over a tunnel stream, for the node proxy: one
// request with "Connection: close", the response read whole (Content-Length,
// chunked, or until EOF).

import type { TunnelStream } from "./stream.ts";

const MAX_BODY = 64 * 1024 * 1024;
const HOP = [
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "authorization",
  "host",
  "content-length",
];

/** Thrown when the node endpoint's answer is not valid HTTP/1.1. */
export class BadResponse extends Error {
  override name = "BadResponse";
}

class Reader {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #eof = false;
  constructor(readonly s: TunnelStream) {}

  async fill(): Promise<boolean> {
    if (this.#eof) return false;
    const c = await this.s.read();
    if (c === null) {
      this.#eof = true;
      return false;
    }
    const b = new Uint8Array(this.#buf.length + c.length);
    b.set(this.#buf);
    b.set(c, this.#buf.length);
    this.#buf = b;
    if (b.length > MAX_BODY) throw new BadResponse("response too large");
    return true;
  }

  /** Bytes up to and excluding `sep`; null at EOF before it. */
  async until(sep: string): Promise<Uint8Array<ArrayBuffer> | null> {
    const s = new TextEncoder().encode(sep);
    for (let from = 0;;) {
      const i = indexOf(this.#buf, s, from);
      if (i >= 0) {
        const out = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + s.length);
        return out;
      }
      from = Math.max(0, this.#buf.length - s.length);
      if (!await this.fill()) return null;
    }
  }

  async take(n: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#buf.length < n) {
      if (!await this.fill()) throw new BadResponse("response body cut short");
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  async rest(): Promise<Uint8Array<ArrayBuffer>> {
    while (await this.fill());
    const out = this.#buf;
    this.#buf = new Uint8Array(0);
    return out;
  }
}

function indexOf(h: Uint8Array, n: Uint8Array, from: number): number {
  outer: for (let i = from; i + n.length <= h.length; i++) {
    for (let j = 0; j < n.length; j++) if (h[i + j] !== n[j]) continue outer;
    return i;
  }
  return -1;
}

async function chunked(r: Reader): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const line = await r.until("\r\n");
    if (line === null) throw new BadResponse("chunked body cut short");
    const size = parseInt(new TextDecoder().decode(line).split(";")[0], 16);
    if (!(size >= 0)) throw new BadResponse("bad chunk size");
    if (size === 0) {
      while ((await r.until("\r\n"))?.length);
      break;
    }
    parts.push(await r.take(size));
    await r.take(2);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) out.set(p, (off += p.length) - p.length);
  return out;
}

/** Sends `req` (its method, headers and body) as `path` and reads the
 * response. */
export async function httpOverStream(
  s: TunnelStream,
  req: Request,
  path: string,
  host: string,
): Promise<Response> {
  const body = req.method === "GET" || req.method === "HEAD"
    ? new Uint8Array(0)
    : new Uint8Array(await req.arrayBuffer());
  let head = `${req.method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of req.headers) {
    if (!HOP.includes(k.toLowerCase())) head += `${k}: ${v}\r\n`;
  }
  head += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  await s.write(new TextEncoder().encode(head));
  if (body.length) await s.write(body);

  const r = new Reader(s);
  const raw = await r.until("\r\n\r\n");
  if (raw === null) throw new BadResponse("no response head");
  const lines = new TextDecoder().decode(raw).split("\r\n");
  const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})(?: (.*))?$/);
  if (!m) throw new BadResponse(`bad status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i <= 0) throw new BadResponse(`bad header line ${JSON.stringify(l)}`);
    headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  let out: Uint8Array<ArrayBuffer>;
  const te = headers.get("transfer-encoding")?.toLowerCase();
  const len = headers.get("content-length");
  if (req.method === "HEAD" || status === 204 || status === 304) {
    out = new Uint8Array(0);
  } else if (te?.includes("chunked")) out = await chunked(r);
  else if (len !== null) out = await r.take(Number(len));
  else out = await r.rest();
  s.closeWrite();
  for (const h of ["transfer-encoding", "connection", "keep-alive"]) {
    headers.delete(h);
  }
  const nullBody = req.method === "HEAD" || [204, 304].includes(status);
  return new Response(nullBody ? null : out, {
    status,
    statusText: m[2] ?? "",
    headers,
  });
}
