// The websocket opening handshake (RFC 6455 section 4) in both roles, on
// request and response heads as text: the server validates an upgrade
// request and builds its 101 answer; the client builds the request and
// checks the answer's Sec-WebSocket-Accept.

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Largest request or response head either side reads. */
export const MAX_HEAD = 16 * 1024;

/** The handshake failed; `status` is the HTTP status involved (0 if none). */
export class HandshakeError extends Error {
  override name = "HandshakeError";
  readonly status: number;
  constructor(message: string, status = 0) {
    super(message);
    this.status = status;
  }
}

export interface Head {
  /** Request: "GET /path HTTP/1.1"; response: "HTTP/1.1 101 ...". */
  startLine: string;
  headers: Headers;
}

/** Parses a head (without its final blank line). */
export function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    if (l === "") continue;
    const i = l.indexOf(":");
    if (i <= 0) {
      throw new HandshakeError(
        `malformed header line ${JSON.stringify(l)}`,
        400,
      );
    }
    try {
      headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
    } catch {
      throw new HandshakeError(
        `malformed header line ${JSON.stringify(l)}`,
        400,
      );
    }
  }
  return { startLine: lines[0], headers };
}

/** Index just past the head's CRLFCRLF in `b[0..len)`, or -1. */
export function headEnd(b: Uint8Array, len = b.length): number {
  for (let i = 3; i < len; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export async function acceptFor(key: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-1",
    new TextEncoder().encode(key + GUID),
  );
  return btoa(String.fromCharCode(...new Uint8Array(d)));
}

function hasToken(value: string | null, token: string): boolean {
  return (value ?? "").toLowerCase().split(",").some((t) => t.trim() === token);
}

/** Checks an upgrade request's websocket headers; returns its key. */
export function checkUpgradeRequest(h: Head): string {
  if (!/^GET \S+ HTTP\/1\.1$/.test(h.startLine)) {
    throw new HandshakeError(
      `expected GET ... HTTP/1.1, got ${
        JSON.stringify(h.startLine.slice(0, 100))
      }`,
      400,
    );
  }
  if (!hasToken(h.headers.get("upgrade"), "websocket")) {
    throw new HandshakeError("expected a websocket upgrade", 400);
  }
  if (!hasToken(h.headers.get("connection"), "upgrade")) {
    throw new HandshakeError("expected Connection: Upgrade", 400);
  }
  if (h.headers.get("sec-websocket-version") !== "13") {
    throw new HandshakeError("Sec-WebSocket-Version must be 13", 426);
  }
  const key = h.headers.get("sec-websocket-key") ?? "";
  let raw = "";
  try {
    raw = atob(key);
  } catch {
    // reported below
  }
  if (raw.length !== 16) {
    throw new HandshakeError(
      "Sec-WebSocket-Key is not 16 bytes of base64",
      400,
    );
  }
  return key;
}

/** The 101 answer to an upgrade request with `key`. */
export async function upgradeResponse(key: string): Promise<string> {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
    `Connection: Upgrade\r\nSec-WebSocket-Accept: ${await acceptFor(
      key,
    )}\r\n\r\n`;
}

/** A client's upgrade request head and the key it carries. */
export function upgradeRequest(
  path: string,
  host: string,
  headers: Record<string, string>,
): { text: string; key: string } {
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  let text = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
    "Sec-WebSocket-Version: 13\r\n";
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k + v)) {
      throw new TypeError(`header ${k} holds a newline`);
    }
    text += `${k}: ${v}\r\n`;
  }
  return { text: text + "\r\n", key };
}

/** Checks the server's answer to a request made with `key`. */
export async function checkUpgradeResponse(
  h: Head,
  key: string,
): Promise<void> {
  const m = h.startLine.match(/^HTTP\/1\.1 (\d{3})/);
  if (!m) {
    throw new HandshakeError(
      `not an HTTP/1.1 answer: ${JSON.stringify(h.startLine.slice(0, 100))}`,
    );
  }
  const status = Number(m[1]);
  if (status !== 101) {
    throw new HandshakeError(
      `unexpected status code ${status} (${h.startLine.slice(13, 80)})`,
      status,
    );
  }
  if (!hasToken(h.headers.get("upgrade"), "websocket")) {
    throw new HandshakeError("the answer does not upgrade to websocket", 101);
  }
  if (h.headers.get("sec-websocket-accept") !== await acceptFor(key)) {
    throw new HandshakeError("wrong Sec-WebSocket-Accept", 101);
  }
}
