// The native CNI launcher: what the installer puts under each plugin name
// where it can (x86_64 and aarch64 Linux). A static executable of under a kilobyte that
// hands the operation to the local agent in one round trip - no Deno start
// on the pod's path - and execs weft's own plugin when no agent takes it.
// The code is fixed per architecture (x86_64.s, aarch64.s and their .ts
// bytes); the installer appends the data:
// the default socket address, the fallback's executable and its two argv
// lists (declined, agent lost), at absolute addresses it computes here.

import { ELF_HEADERS, staticElf } from "./elf.ts";
import * as x86_64 from "./x86_64.ts";
import * as aarch64 from "./aarch64.ts";

export interface LauncherSpec {
  /** The agent's socket (WEFT_CNI_SOCKET, when set and not empty, wins). */
  socket: string;
  /** The executable run when no agent takes the operation. */
  exec: string;
  /** Its argv (argv[0] included) when the agent declined or is absent. */
  argv: string[];
  /** Its argv when the agent stopped during the operation. */
  lostArgv: string[];
}

export class LauncherError extends Error {
  override name = "LauncherError";
}

/** Where the executable is mapped (a fixed address: no relocation). */
const BASE = 0x400000;
const SUN_PATH = 108;
const SOCKADDR = 110;
const MAX_ARGS = 64;
const MAX_STRING = 4096;

/** Each architecture's code (Deno.build.arch names) and ELF machine. */
const ARCHES: Record<string, { hex: string; table: number; machine: number }> =
  {
    x86_64: { hex: x86_64.CODE_HEX, table: x86_64.TABLE_OFFSET, machine: 62 },
    aarch64: {
      hex: aarch64.CODE_HEX,
      table: aarch64.TABLE_OFFSET,
      machine: 183,
    },
  };

/** The architectures (Deno.build.arch) the launcher exists for. */
export const LAUNCHER_ARCHES: readonly string[] = Object.keys(ARCHES);

function machineCode(arch: string): Uint8Array {
  const hex = ARCHES[arch].hex;
  const code = new Uint8Array(hex.length / 2);
  for (let i = 0; i < code.length; i++) {
    code[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return code;
}

/** True when the launcher exists for `arch` on `os`. */
export function hasLauncher(
  arch: string = Deno.build.arch,
  os: string = Deno.build.os,
): boolean {
  return os === "linux" && LAUNCHER_ARCHES.includes(arch);
}

/** The launcher executable for `spec`, for `arch` (LAUNCHER_ARCHES). */
export function launcherImage(
  spec: LauncherSpec,
  arch: string = Deno.build.arch,
): Uint8Array {
  const target = ARCHES[arch];
  if (!target) throw new LauncherError(`no launcher for ${arch}`);
  const TABLE_OFFSET = target.table;
  const enc = new TextEncoder();
  const check = (s: string, what: string) => {
    if (s.includes("\0")) throw new LauncherError(`${what} holds a NUL byte`);
    if (enc.encode(s).length > MAX_STRING) {
      throw new LauncherError(`${what} is over ${MAX_STRING} bytes`);
    }
  };
  const sock = enc.encode(spec.socket);
  if (sock.length === 0 || sock.length >= SUN_PATH || sock.includes(0)) {
    throw new LauncherError(
      `socket path ${JSON.stringify(spec.socket)} does not fit a unix address`,
    );
  }
  check(spec.exec, "the fallback executable");
  for (const list of [spec.argv, spec.lostArgv]) {
    if (list.length === 0 || list.length > MAX_ARGS) {
      throw new LauncherError(`an argv of ${list.length} entries`);
    }
    list.forEach((a) => check(a, "a fallback argument"));
  }
  const head = machineCode(arch);
  const data: number[] = [];
  const at = () => TABLE_OFFSET + 32 + data.length;
  const addr = (off: number) => BigInt(BASE + ELF_HEADERS + off);
  const align = () => {
    while (at() % 8) data.push(0);
  };
  const string = (s: string) => {
    const off = at();
    data.push(...enc.encode(s), 0);
    return off;
  };
  // struct sockaddr_un { sa_family_t AF_UNIX; char sun_path[108]; }
  const sockOff = at();
  const sa = new Uint8Array(SOCKADDR);
  sa[0] = 1;
  sa.set(sock, 2);
  data.push(...sa);
  const execOff = string(spec.exec);
  const pointers = (list: string[]) => {
    const strs = list.map(string);
    align();
    const off = at();
    const p = new Uint8Array(8 * (strs.length + 1));
    const v = new DataView(p.buffer);
    strs.forEach((s, i) => v.setBigUint64(8 * i, addr(s), true));
    data.push(...p);
    return off;
  };
  const argvOff = pointers(spec.argv);
  const lostOff = pointers(spec.lostArgv);
  const image = new Uint8Array(TABLE_OFFSET + 32 + data.length);
  image.set(head);
  const t = new DataView(image.buffer, TABLE_OFFSET, 32);
  [sockOff, execOff, argvOff, lostOff].forEach((off, i) =>
    t.setBigUint64(8 * i, addr(off), true)
  );
  image.set(data, TABLE_OFFSET + 32);
  return staticElf(image, BASE, target.machine);
}

/** Reads back a launcher this module wrote (any arch); null for anything
 * else. */
export function readLauncher(file: Uint8Array): LauncherSpec | null {
  for (const arch of LAUNCHER_ARCHES) {
    const spec = readFor(arch, file);
    if (spec) return spec;
  }
  return null;
}

function readFor(arch: string, file: Uint8Array): LauncherSpec | null {
  const head = machineCode(arch);
  const TABLE_OFFSET = ARCHES[arch].table;
  const start = ELF_HEADERS;
  if (file.length < start + TABLE_OFFSET + 32 + SOCKADDR) return null;
  for (let i = 0; i < head.length; i++) {
    if (file[start + i] !== head[i]) return null;
  }
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const offOf = (a: bigint): number | null => {
    const off = Number(a) - BASE;
    return off >= start && off < file.length ? off : null;
  };
  const cString = (off: number | null): string | null => {
    if (off === null) return null;
    const end = file.indexOf(0, off);
    if (end < 0 || end - off > MAX_STRING) return null;
    return new TextDecoder().decode(file.subarray(off, end));
  };
  const table = (i: number) =>
    offOf(v.getBigUint64(start + TABLE_OFFSET + 8 * i, true));
  const argv = (off: number | null): string[] | null => {
    if (off === null) return null;
    const out: string[] = [];
    for (let i = 0; i <= MAX_ARGS; i++) {
      if (off + 8 * i + 8 > file.length) return null;
      const p = v.getBigUint64(off + 8 * i, true);
      if (p === 0n) return out;
      const s = cString(offOf(p));
      if (s === null) return null;
      out.push(s);
    }
    return null;
  };
  const sa = table(0);
  const socket = sa === null ? null : cString(sa + 2);
  const exec = cString(table(1));
  const args = argv(table(2));
  const lost = argv(table(3));
  if (socket === null || exec === null || !args || !lost) return null;
  return { socket, exec, argv: args, lostArgv: lost };
}
