// Giving memory back once a long-running process has started. Start-up
// touches pages of the executable that never run again (Deno's module
// loader, the V8 snapshot it deserialized, the join's one-off code paths);
// file-backed and clean, they stay mapped, counted in the process's RSS and
// kept by the kernel ahead of other cache. `releaseStartupMemory()` unmaps
// them (madvise MADV_DONTNEED on the executable's read-only, never-written
// mappings: the page cache keeps the file's pages and any page used again
// is mapped back on its next access) and returns malloc's free pages to the
// kernel (malloc_trim). Nothing written is dropped: a mapping with private
// (copy-on-write) pages, such as the relocated RELRO data, is left alone.

import { libs } from "./_lib.ts";

const MADV_DONTNEED = 4;

/** One read-only mapping of the executable that holds no private pages. */
export interface CleanMapping {
  start: bigint;
  end: bigint;
  /** Resident bytes before the release. */
  rss: number;
}

/**
 * The executable's read-only mappings (`r--p`, `r-xp`) with no anonymous
 * (copy-on-write) pages, from /proc/self/smaps text.
 */
export function cleanExecutableMappings(
  smaps: string,
  exe: string,
): CleanMapping[] {
  const out: CleanMapping[] = [];
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const head = block.match(
      /^([0-9a-f]+)-([0-9a-f]+) (r--p|r-xp) [0-9a-f]+ \S+ \d+ +(.+)/,
    );
    if (!head || head[4].trim() !== exe) continue;
    const anon = block.match(/^Anonymous:\s+(\d+) kB/m);
    const rss = block.match(/^Rss:\s+(\d+) kB/m);
    if (!anon || !rss || Number(anon[1]) !== 0) continue;
    out.push({
      start: BigInt(`0x${head[1]}`),
      end: BigInt(`0x${head[2]}`),
      rss: Number(rss[1]) * 1024,
    });
  }
  return out;
}

export interface Released {
  /** Resident bytes of the executable's clean mappings before the release. */
  executable: number;
  /** Whether malloc_trim gave memory back. */
  trimmed: boolean;
}

/**
 * Returns malloc's free pages to the kernel (malloc_trim(0)): glibc gives
 * back only free memory at the top of its heap by itself, and a process
 * that runs commands now and then (iptables-save every few seconds) leaves
 * free holes in the middle that add up to megabytes. False when nothing
 * was given back or libc cannot be loaded.
 */
export function trimMalloc(): boolean {
  try {
    const trim = libs().c.malloc_trim;
    return trim ? trim(0n) === 1 : false;
  } catch {
    return false;
  }
}

/**
 * Unmaps the executable's clean read-only pages and trims malloc (see the
 * file's header). Linux with glibc; elsewhere, or when /proc is missing,
 * it does nothing and says so with zero bytes.
 */
export function releaseStartupMemory(): Released {
  let exe: string;
  let smaps: string;
  let c: ReturnType<typeof libs>["c"];
  try {
    exe = Deno.readLinkSync("/proc/self/exe");
    smaps = Deno.readTextFileSync("/proc/self/smaps");
    c = libs().c;
  } catch {
    return { executable: 0, trimmed: false };
  }
  let executable = 0;
  for (const m of cleanExecutableMappings(smaps, exe)) {
    if (c.madvise(m.start, m.end - m.start, MADV_DONTNEED) === 0) {
      executable += m.rss;
    }
  }
  return { executable, trimmed: trimMalloc() };
}
