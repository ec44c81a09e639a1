// Fills malloc's heap with small buffers, frees them, and reports the
// resident size of [heap] before and after trimMalloc() (run with
// --v8-flags=--expose-gc).

import { trimMalloc } from "../../ffi/mod.ts";

function heapRss(): number {
  let inHeap = false;
  let kb = 0;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith("[heap]");
    else if (inHeap && line.startsWith("Rss:")) {
      kb += Number(line.split(/\s+/)[1]);
    }
  }
  return kb * 1024;
}

const gc = (globalThis as { gc?: () => void }).gc!;
let keep: Uint8Array[] = [];
for (let i = 0; i < 4000; i++) keep.push(new Uint8Array(8192).fill(1));
keep = [];
for (let i = 0; i < 3; i++) {
  gc();
  await new Promise((r) => setTimeout(r, 20));
}
const before = heapRss();
const trimmed = trimMalloc();
const after = heapRss();
console.log(JSON.stringify({ before, after, trimmed }));
