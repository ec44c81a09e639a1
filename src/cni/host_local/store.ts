// host-local's on-disk state, byte-compatible with the reference plugin:
// <dataDir>/<network>/ holds one file per allocated IP (named by the IP,
// content "<containerID>\r\n<ifname>", mode 0600), last_reserved_ip.<set>
// and `lock`, flocked exclusively around every allocate or release.

import { IP } from "../../net/mod.ts";
import { ioFailure, writeAllSync } from "../files.ts";
import { syncFileSync } from "../../util/fs.ts";
import type { Deferred } from "../plugin.ts";

export const LINE_BREAK = "\r\n";
const LAST_PREFIX = "last_reserved_ip.";

export interface Allocation {
  ip: IP;
  containerId: string;
  /** null for a file written by an old reference (content = id only). */
  ifname: string | null;
}

export class DiskStore {
  private constructor(
    readonly dir: string,
    private readonly defer?: (work: Deferred) => void,
  ) {}

  /**
   * Opens (creating, 0755) `<dataDir>/<network>`. With `defer` (an agent
   * serving the operation) a reserved IP file's fsync runs after the answer.
   */
  static open(
    dataDir: string,
    network: string,
    defer?: (work: Deferred) => void,
  ): DiskStore {
    const dir = `${dataDir.replace(/\/+$/, "")}/${network}`;
    try {
      Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw ioFailure(`cannot create host-local data dir ${dir}`, err);
    }
    return new DiskStore(dir, defer);
  }

  /** Runs `fn` holding the exclusive flock on `<dir>/lock`. */
  async withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(`${this.dir}/lock`, {
        read: true,
        write: true,
        create: true,
        mode: 0o600,
      });
    } catch (err) {
      throw ioFailure(`cannot open lock file in ${this.dir}`, err);
    }
    try {
      await file.lock(true);
      return await fn();
    } finally {
      file.close(); // closing releases the flock
    }
  }

  /**
   * Creates the file of `ip` (O_EXCL); false when the IP is taken. The
   * content is written before returning and fsynced (then, or after the
   * answer when deferred); on any failure the file is removed again, so no
   * empty IP file is ever left (plugins#498).
   */
  reserve(id: string, ifname: string, ip: IP, rangeId: number): boolean {
    const path = `${this.dir}/${ip}`;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      throw ioFailure(`cannot create ${path}`, err);
    }
    try {
      writeAllSync(file, new TextEncoder().encode(id + LINE_BREAK + ifname));
      if (!this.defer) file.syncSync();
      file.close();
    } catch (err) {
      try {
        file.close();
      } catch { /* already closed */ }
      Deno.removeSync(path);
      throw ioFailure(`cannot write ${path}`, err);
    }
    try {
      this.writeLastReserved(rangeId, ip);
    } catch (err) {
      Deno.removeSync(path); // all or nothing: no IP held by a failed ADD
      throw err;
    }
    this.defer?.(() => syncFileSync(path));
    return true;
  }

  /** Rewritten in place as the reference does: it is only a hint. */
  private writeLastReserved(rangeId: number, ip: IP): void {
    const path = `${this.dir}/${LAST_PREFIX}${rangeId}`;
    try {
      Deno.writeTextFileSync(path, ip.toString(), { mode: 0o600 });
    } catch (err) {
      throw ioFailure(`cannot write ${path}`, err);
    }
  }

  lastReserved(rangeId: number): IP | null {
    try {
      const text = Deno.readTextFileSync(
        `${this.dir}/${LAST_PREFIX}${rangeId}`,
      );
      return IP.tryParse(text.trim());
    } catch {
      return null;
    }
  }

  /** Every IP file with its owner. */
  list(): Allocation[] {
    const out: Allocation[] = [];
    for (const entry of Deno.readDirSync(this.dir)) {
      if (!entry.isFile) continue;
      const ip = IP.tryParse(entry.name);
      if (!ip) continue;
      let text: string;
      try {
        text = Deno.readTextFileSync(`${this.dir}/${entry.name}`);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue;
        throw ioFailure(`cannot read ${this.dir}/${entry.name}`, err);
      }
      const [id, ifname] = text.trim().split(LINE_BREAK);
      out.push({ ip, containerId: id, ifname: ifname ?? null });
    }
    return out;
  }

  /** IPs held by id+ifname (a file with only the id matches too). */
  findByID(id: string, ifname: string): IP[] {
    return this.list().filter((a) => owns(a, id, ifname)).map((a) => a.ip);
  }

  /** Removes every file held by id+ifname; returns how many. */
  releaseByID(id: string, ifname: string): number {
    let n = 0;
    for (const a of this.list()) {
      if (owns(a, id, ifname)) {
        this.release(a.ip);
        n++;
      }
    }
    return n;
  }

  release(ip: IP): void {
    try {
      Deno.removeSync(`${this.dir}/${ip}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        throw ioFailure(`cannot remove ${this.dir}/${ip}`, err);
      }
    }
  }
}

function owns(a: Allocation, id: string, ifname: string): boolean {
  return a.containerId === id && (a.ifname === null || a.ifname === ifname);
}
