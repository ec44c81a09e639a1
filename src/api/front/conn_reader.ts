// Pull-based reads from a connection with push-back: the front reads only
// when it wants bytes (a head, a body to forward), so no read races another
// and bytes of a pipelined next request wait in `unread` until their turn.
// Buffers start small (an idle connection holds 1 KiB in its pending read)
// and grow while reads fill them (bulk bodies).

const SMALL = 1024;
const LARGE = 64 * 1024;

export class ConnReader {
  #buf: Uint8Array | null = null;
  #pending: Promise<Uint8Array | null> | null = null;
  #monitoring: Promise<void> | null = null;
  #eof = false;
  #size = SMALL;

  constructor(readonly conn: Deno.Conn) {}

  /** The next bytes (buffered ones first); null at EOF or on a read error. */
  async next(): Promise<Uint8Array | null> {
    if (this.#monitoring) await this.#monitoring;
    if (this.#buf) {
      const b = this.#buf;
      this.#buf = null;
      return b;
    }
    if (this.#eof) return null;
    const b = await this.#read();
    if (b === null) this.#eof = true;
    return b;
  }

  /** Puts bytes back: next() returns them first. */
  unread(b: Uint8Array): void {
    if (b.length === 0) return;
    if (!this.#buf) {
      this.#buf = b;
      return;
    }
    const both = new Uint8Array(b.length + this.#buf.length);
    both.set(b);
    both.set(this.#buf, b.length);
    this.#buf = both;
  }

  /** Takes the buffered bytes (none pending: call between next()s). */
  take(): Uint8Array {
    const b = this.#buf ?? new Uint8Array(0);
    this.#buf = null;
    return b;
  }

  /** Bytes are buffered (a next head started arriving). */
  get buffered(): number {
    return this.#buf?.length ?? 0;
  }

  /**
   * Resolves true when the peer closes (EOF or error) before sending more;
   * false once bytes arrived (kept for next()). Used while a response runs,
   * to notice a client that went away.
   */
  closed(): Promise<boolean> {
    if (this.#buf) return Promise.resolve(false);
    if (this.#eof) return Promise.resolve(true);
    const result = this.#read().then((b) => {
      if (b === null) {
        this.#eof = true;
        return true;
      }
      this.unread(b);
      return false;
    });
    this.#monitoring = result.then(() => {
      this.#monitoring = null;
    });
    return result;
  }

  #read(): Promise<Uint8Array | null> {
    this.#pending ??= (async () => {
      try {
        const buf = new Uint8Array(this.#size);
        const n = await this.conn.read(buf);
        if (n === null) return null;
        if (n === buf.length) this.#size = Math.min(this.#size * 4, LARGE);
        else if (n < SMALL) this.#size = SMALL;
        return n === buf.length ? buf : buf.slice(0, n);
      } catch {
        return null;
      } finally {
        this.#pending = null;
      }
    })();
    return this.#pending;
  }
}
