// HTTP/1.1 message framing (RFC 9112) as the front listener needs it: where
// a request or response head ends, how long its body is (Content-Length,
// chunked, until close), and where the next message starts. The front
// forwards piped messages unchanged and uses this only to know where each
// ends (when the connection waits for the next head, or has switched
// protocols). It never decodes bodies.

/** A head or chunked body the front refuses; `status` is the HTTP answer. */
export class FramingError extends Error {
  override name = "FramingError";
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export interface MessageHead {
  /** Requests: the method and target; responses: the status code. */
  method?: string;
  target?: string;
  /** Requests: "1.1" or "1.0". */
  version?: string;
  status?: number;
  /** Header fields in order, names as sent. */
  fields: [string, string][];
}

/** How a message's body is delimited. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Everything up to the end of the connection (responses; or a protocol
   * switch: the bytes are no longer HTTP). */
  | { kind: "rest" };

export const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_LINE = 4096;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^(\S+) (\S+) HTTP\/(\d)\.(\d)$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

/** The value of header `name` (all values joined by ", "), or null. */
export function field(head: MessageHead, name: string): string | null {
  const lower = name.toLowerCase();
  const values = head.fields.filter(([n]) => n.toLowerCase() === lower);
  return values.length ? values.map(([, v]) => v).join(", ") : null;
}

/** Parses a head (without its final empty line); throws FramingError. */
export function parseHead(text: string, kind: "request" | "response") {
  const lines = text.split(/\r?\n/);
  const head: MessageHead = { fields: [] };
  const first = lines[0];
  if (kind === "request") {
    if (first === "PRI * HTTP/2.0") {
      throw new FramingError("HTTP/2 is not served on this port", 505);
    }
    const m = REQUEST_LINE.exec(first);
    if (!m || !TOKEN.test(m[1])) {
      throw new FramingError(
        `malformed request line ${JSON.stringify(first.slice(0, 200))}`,
        400,
      );
    }
    if (m[3] !== "1") {
      throw new FramingError(`HTTP/${m[3]}.${m[4]} is not supported`, 505);
    }
    head.method = m[1];
    head.target = m[2];
    head.version = `${m[3]}.${m[4]}`;
  } else {
    const m = STATUS_LINE.exec(first);
    if (!m) throw new FramingError("malformed status line", 502);
    head.status = Number(m[1]);
  }
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0 || !TOKEN.test(line.slice(0, i))) {
      throw new FramingError(
        `malformed header line ${JSON.stringify(line.slice(0, 200))}`,
        400,
      );
    }
    head.fields.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return head;
}

/** Content-Length as RFC 9112 6.3 allows it (a list of one repeated value). */
function contentLength(head: MessageHead): number | null {
  const v = field(head, "content-length");
  if (v === null) return null;
  const values = new Set(v.split(",").map((s) => s.trim()));
  const [only] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only)) {
    throw new FramingError(`invalid Content-Length ${JSON.stringify(v)}`, 400);
  }
  return Number(only);
}

function isChunked(te: string): boolean {
  const codings = te.split(",").map((s) => s.trim().toLowerCase());
  return codings[codings.length - 1] === "chunked";
}

/** A request's body framing (RFC 9112 6.3); ambiguous framing is refused. */
export function requestBody(head: MessageHead): BodyFraming {
  const te = field(head, "transfer-encoding");
  const length = contentLength(head);
  if (te !== null) {
    if (length !== null || !isChunked(te)) {
      throw new FramingError(
        "a request must not carry both Transfer-Encoding and Content-Length, and chunked must be its last coding",
        400,
      );
    }
    return { kind: "chunked" };
  }
  return length ? { kind: "length", length } : { kind: "none" };
}

/** A response's body framing, given the method of the request it answers. */
export function responseBody(head: MessageHead, method: string): BodyFraming {
  const status = head.status!;
  if (status === 101) return { kind: "rest" };
  if (status < 200 || status === 204 || status === 304) return { kind: "none" };
  if (method === "HEAD") return { kind: "none" };
  if (method === "CONNECT" && status < 300) return { kind: "rest" };
  const te = field(head, "transfer-encoding");
  if (te !== null) {
    return isChunked(te) ? { kind: "chunked" } : { kind: "rest" };
  }
  const length = contentLength(head);
  if (length === null) return { kind: "rest" };
  return length ? { kind: "length", length } : { kind: "none" };
}

/** Where a head ends in `buf` (after its empty line), searching from `from`;
 * -1 if it has not ended. Lines end in CRLF or a bare LF. */
export function headEnd(buf: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i < buf.length; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i + 1] === 10) return i + 2;
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
  }
  return -1;
}

/** Answers how the body of a complete head is framed (may throw). */
export type OnHead = (head: MessageHead) => BodyFraming;

type State =
  | "head"
  | "length"
  | "chunk-size"
  | "chunk-data"
  | "chunk-lf"
  | "trailers"
  | "rest";

/**
 * Follows a stream of HTTP/1.1 messages of one direction, fed with
 * pushMessage(), which says where the current message ends. It throws
 * FramingError on bytes that are not HTTP/1.1; the framer is then unusable
 * (the connection is closed).
 */
export class Http1Framer {
  #state: State = "head";
  #head: Uint8Array | null = null;
  #left = 0;
  #line = "";
  /** Bytes of the current head or trailer section; 0 = none yet. */
  #headLen = 0;
  #ended = false;

  constructor(
    readonly kind: "request" | "response",
    readonly onHead: OnHead,
    readonly maxHead = MAX_HEAD,
  ) {}

  /** Consumes bytes up to where the current message ends; returns how many
   * belong to it (all of them if it has not ended). */
  pushMessage(bytes: Uint8Array): number {
    let off = 0;
    this.#ended = false;
    while (off < bytes.length && !this.#ended) {
      off += this.#step(bytes.subarray(off));
    }
    return off;
  }

  /** The last push ended a message. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Starts in the body of a message whose head was read elsewhere. */
  expectBody(framing: BodyFraming): void {
    this.#begin(framing);
  }

  /** Consumes a prefix of `b` (at least one byte); returns its length. */
  #step(b: Uint8Array): number {
    switch (this.#state) {
      case "rest":
        return b.length;
      case "head":
        return this.#stepHead(b);
      case "length": {
        const n = Math.min(this.#left, b.length);
        this.#left -= n;
        if (this.#left === 0) this.#end();
        return n;
      }
      case "chunk-size":
        return this.#stepChunkLine(b);
      case "chunk-data": {
        const n = Math.min(this.#left, b.length);
        this.#left -= n;
        if (this.#left === 0) this.#state = "chunk-lf";
        return n;
      }
      case "chunk-lf":
        if (b[0] === 13 && this.#line === "") {
          this.#line = "\r";
          return 1;
        }
        if (b[0] !== 10) {
          throw new FramingError("a chunk does not end in CRLF", 400);
        }
        this.#line = "";
        this.#state = "chunk-size";
        return 1;
      case "trailers":
        return this.#stepTrailers(b);
    }
  }

  #stepHead(b: Uint8Array): number {
    let skip = 0;
    // RFC 9112 2.2: empty lines before a request line are ignored.
    if (this.#headLen === 0 && this.kind === "request") {
      while (skip < b.length && (b[skip] === 13 || b[skip] === 10)) skip++;
      if (skip === b.length) return skip;
    }
    const old = this.#head ?? new Uint8Array(0);
    const room = this.maxHead - old.length;
    const take = b.subarray(skip, skip + room);
    const buf = new Uint8Array(old.length + take.length);
    buf.set(old);
    buf.set(take, old.length);
    const end = headEnd(buf, old.length - 2);
    if (end < 0) {
      if (buf.length >= this.maxHead) {
        throw new FramingError(
          `the head is longer than ${this.maxHead} bytes`,
          431,
        );
      }
      this.#head = buf;
      this.#headLen = buf.length;
      return skip + take.length;
    }
    this.#head = null;
    this.#headLen = 0;
    const text = new TextDecoder().decode(buf.subarray(0, end)).trimEnd();
    const framing = this.onHead(parseHead(text, this.kind));
    this.#begin(framing);
    return skip + end - old.length;
  }

  #begin(framing: BodyFraming): void {
    switch (framing.kind) {
      case "none":
        return this.#end();
      case "length":
        this.#left = framing.length;
        this.#state = "length";
        return;
      case "chunked":
        this.#line = "";
        this.#state = "chunk-size";
        return;
      case "rest":
        this.#state = "rest";
        return;
    }
  }

  #end(): void {
    this.#state = "head";
    this.#ended = true;
  }

  #stepChunkLine(b: Uint8Array): number {
    const lf = b.indexOf(10);
    const part = new TextDecoder().decode(
      b.subarray(0, lf < 0 ? b.length : lf),
    );
    this.#line += part;
    if (this.#line.length > MAX_CHUNK_LINE) {
      throw new FramingError("a chunk size line is too long", 400);
    }
    if (lf < 0) return b.length;
    const m = /^([0-9a-fA-F]{1,13})[ \t]*(;.*)?\r?$/.exec(this.#line);
    if (!m) {
      throw new FramingError(
        `malformed chunk size ${JSON.stringify(this.#line.slice(0, 40))}`,
        400,
      );
    }
    this.#line = "";
    this.#left = parseInt(m[1], 16);
    this.#state = this.#left === 0 ? "trailers" : "chunk-data";
    return lf + 1;
  }

  /** The trailer section: lines up to an empty one. */
  #stepTrailers(b: Uint8Array): number {
    const lf = b.indexOf(10);
    const part = new TextDecoder().decode(
      b.subarray(0, lf < 0 ? b.length : lf),
    );
    this.#line += part;
    this.#headLen += part.length + 1;
    if (this.#headLen > this.maxHead) {
      throw new FramingError("the trailer section is too long", 431);
    }
    if (lf < 0) return b.length;
    const empty = this.#line === "" || this.#line === "\r";
    this.#line = "";
    if (empty) {
      this.#headLen = 0;
      this.#end();
    }
    return lf + 1;
  }
}
