// Requests without a body are answered in process: the front builds the
// Request, calls the app, and writes the Response as HTTP/1.1 itself. No
// internal connection, no second HTTP server per request: an idle watch
// holds one socket, its TLS state and the app's stream, nothing else.
// A body that ends within one turn is sent with Content-Length in one
// write; a longer one (a watch) is sent chunked, each chunk written as it
// comes.

import { setImmediate } from "node:timers";
import { field, FramingError, type MessageHead } from "./http1.ts";
import { reasonOf, writeAll } from "./_io.ts";

/** Whether the front answers `head` itself: no body, no protocol switch. */
export function servedInProcess(head: MessageHead): boolean {
  if (head.method === "CONNECT" || field(head, "upgrade") !== null) {
    return false;
  }
  const te = field(head, "transfer-encoding");
  const cl = field(head, "content-length");
  return te === null && (cl === null || /^\s*0\s*$/.test(cl));
}

/** Whether the client asked to close after this exchange. */
export function wantsClose(head: MessageHead): boolean {
  const c = field(head, "connection")?.toLowerCase() ?? "";
  if (head.version === "1.0") return !/\bkeep-alive\b/.test(c);
  return /\bclose\b/.test(c);
}

/** The Request for a bodyless head; FramingError(400) when unusable. */
export function requestOf(head: MessageHead, signal: AbortSignal): Request {
  const target = head.target!;
  // The Host header only names the authority: anything else in it (a path,
  // a query) must not change the URL the app routes.
  const given = field(head, "host") ?? "";
  const host = /^[A-Za-z0-9.\-]*(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/
      .test(given) && given
    ? given
    : "localhost";
  try {
    const url = target.startsWith("/")
      ? new URL(`https://${host}${target}`)
      : new URL(target);
    const headers = new Headers();
    for (const [n, v] of head.fields) headers.append(n, v);
    return new Request(url, { method: head.method, headers, signal });
  } catch (e) {
    throw new FramingError(
      `unusable request: ${(e as Error).message}`,
      400,
    );
  }
}

const enc = new TextEncoder();
/** Bodies up to this are copied behind their head (one write). */
const COPY_MAX = 16 * 1024;

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function chunk(data: Uint8Array): Uint8Array[] {
  if (data.length === 0) return []; // an empty chunk would end the body
  return [
    enc.encode(`${data.length.toString(16)}\r\n`),
    data,
    enc.encode("\r\n"),
  ];
}

const SKIP = new Set(["content-length", "transfer-encoding", "connection"]);

function headText(res: Response, close: boolean, framing: string): string {
  let text = `HTTP/1.1 ${res.status} ${
    res.statusText || reasonOf(res.status)
  }\r\n`;
  for (const [n, v] of res.headers) if (!SKIP.has(n)) text += `${n}: ${v}\r\n`;
  if (close) text += "connection: close\r\n";
  return text + framing + "\r\n";
}

/**
 * Writes `res` to `conn` for a request of `method`. `gone` aborts when the
 * client went away: the body is cancelled (a watch ends). Resolves true
 * when the whole response was written.
 */
export async function writeResponse(
  conn: Deno.Conn,
  res: Response,
  opts: { method: string; close: boolean; gone: AbortSignal },
): Promise<boolean> {
  const bodyless = opts.method === "HEAD" || res.status < 200 ||
    res.status === 204 || res.status === 304;
  if (bodyless || !res.body) {
    await res.body?.cancel().catch(() => {});
    const framing = bodyless ? "" : "content-length: 0\r\n";
    return await writeAll(conn, enc.encode(headText(res, opts.close, framing)))
      .then(() => true, () => false);
  }
  const reader = res.body.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  opts.gone.addEventListener("abort", cancel, { once: true });
  const turn = () => new Promise<null>((r) => setImmediate(() => r(null)));
  const chunked = (parts: Uint8Array[]) =>
    join([
      enc.encode(headText(res, opts.close, "transfer-encoding: chunked\r\n")),
      ...parts.flatMap(chunk),
    ]);
  try {
    // A body that ends within a turn or two gets a Content-Length and one
    // write; one that does not (a watch) gets its head written at once.
    let next: Promise<ReadableStreamReadResult<Uint8Array>> | null = reader
      .read();
    const first = await Promise.race([next, turn()]);
    if (first === null) {
      await writeAll(conn, chunked([]));
    } else if (first.done) {
      await writeAll(
        conn,
        enc.encode(headText(res, opts.close, "content-length: 0\r\n")),
      );
      return !opts.gone.aborted;
    } else {
      next = reader.read();
      const soon = await Promise.race([next, turn()]);
      if (soon?.done) {
        const length = `content-length: ${first.value.length}\r\n`;
        const head = enc.encode(headText(res, opts.close, length));
        if (first.value.length > COPY_MAX) {
          await writeAll(conn, head); // no copy of a large body
          await writeAll(conn, first.value);
        } else {
          await writeAll(conn, join([head, first.value]));
        }
        return true;
      }
      const parts = [first.value];
      if (soon) {
        parts.push(soon.value);
        next = null;
      }
      await writeAll(conn, chunked(parts));
    }
    while (true) {
      const r = await (next ?? reader.read());
      next = null;
      if (r.done) break;
      if (r.value.length > 0) await writeAll(conn, join(chunk(r.value)));
    }
    if (opts.gone.aborted) return false;
    await writeAll(conn, enc.encode("0\r\n\r\n"));
    return true;
  } catch {
    await cancel();
    return false;
  } finally {
    opts.gone.removeEventListener("abort", cancel);
  }
}
