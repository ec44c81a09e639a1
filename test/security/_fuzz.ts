// A small, seeded, bounded fuzzer for the parsers an outsider can reach:
// its own PRNG (so a printed seed replays a run exactly), mutators over text,
// JSON trees and bytes (bit flips, truncation, splicing, deep nesting, huge
// numbers, unicode, prototype keys), and a runner that counts every thrown
// value that is not the parser's typed error.
//
// Replay: WEFT_FUZZ_SEED=<seed> deno test -A test/security/fuzz_test.ts
// (WEFT_FUZZ_ITERATIONS scales the count per parser).

/** mulberry32: tiny, fast, good enough to drive mutations. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The run's seed: WEFT_FUZZ_SEED, else a fresh one (printed by the caller). */
export function runSeed(): number {
  const env = Deno.env.get("WEFT_FUZZ_SEED");
  if (env && /^\d+$/.test(env)) return Number(env) >>> 0;
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A parser's own seed derived from the run seed and its name. */
export function subSeed(seed: number, name: string): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Iterations for a parser: `base` scaled by WEFT_FUZZ_ITERATIONS / 1000. */
export function iterations(base: number): number {
  const env = Deno.env.get("WEFT_FUZZ_ITERATIONS");
  if (!env || !/^\d+$/.test(env)) return base;
  return Math.max(1, Math.round(base * Number(env) / 1000));
}

const HUGE_NUMBERS = [
  "1e309",
  "-1e309",
  "9007199254740993",
  "18446744073709551616",
  "-0",
  "0.0000000000000000000001",
  "1" + "0".repeat(400),
  "4294967296",
  "-2147483649",
  "1.5",
  "0x10",
];

const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  '"',
  ",",
  ":",
  "null",
  "true",
  "false",
  '""',
  '"__proto__"',
  '"constructor"',
  '"toString"',
  '{"__proto__":{"x":1}}',
  "\\u0000",
  "\\ud800",
  "\\",
  "=",
  "==",
  "!=",
  "!",
  "(",
  ")",
  " in ",
  " notin ",
  "/",
  "~1",
  "~",
  "$patch",
  "0.0.0.0/0",
  "::/0",
  "10.42.0.0/16",
  "256.1.1.1/33",
  "%",
  ";",
  ".",
  "-",
  "*",
  "&",
  "<<: *a",
  "&a ",
  "!!binary ",
  "\t",
  "\r\n",
  "---\n",
  "? ",
  "|\n",
];

const UNICODE = [
  "\u0000",
  "\u2028",
  "\u202e",
  "\ufeff",
  "\ud800",
  "\udfff",
  "\ud83d\ude00",
  "é",
  "\u0301",
  "\uffff",
  "𝕏",
];

/** A random value of any JSON type, sometimes hostile. */
export function randomJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 3 ? 8 : 11)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53 + 2, 65536]);
    case 3:
      return "";
    case 4:
      return rng.pick(UNICODE).repeat(1 + rng.int(4));
    case 5:
      return rng.pick(TOKENS);
    case 6:
      return "x".repeat(rng.pick([1, 63, 64, 254, 1025, 70_000]));
    case 7:
      return nested(rng, rng.pick([2, 50, 150, 3000]));
    case 8:
      return [randomJson(rng, depth + 1), randomJson(rng, depth + 1)];
    case 9: {
      const o: Record<string, unknown> = {};
      Object.defineProperty(o, rng.pick(["__proto__", "constructor", "a"]), {
        value: randomJson(rng, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return o;
    }
    default:
      return {
        [rng.pick(["a", "$patch", "name", "type"])]: randomJson(rng, depth + 1),
      };
  }
}

function nested(rng: Rng, n: number): unknown {
  let v: unknown = 1;
  const arrays = rng.chance(0.5);
  for (let i = 0; i < n; i++) v = arrays ? [v] : { a: v };
  return v;
}

/** Replaces one random node of a JSON tree (returns the new root). */
export function mutateTree(rng: Rng, root: unknown): unknown {
  if (rng.chance(0.1)) return randomJson(rng);
  const parents: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        parents.push([v, i]);
        walk(x);
      });
    } else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        parents.push([v as Record<string, unknown>, k]);
        walk(x);
      }
    }
  };
  walk(root);
  if (parents.length === 0) return randomJson(rng);
  const [p, k] = rng.pick(parents);
  const op = rng.int(4);
  if (op === 0 && !Array.isArray(p)) {
    delete (p as Record<string, unknown>)[k as string];
  } else if (op === 1 && !Array.isArray(p)) {
    Object.defineProperty(p, rng.pick(["__proto__", "constructor", "x"]), {
      value: randomJson(rng),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    (p as Record<string | number, unknown>)[k] = randomJson(rng);
  }
  return root;
}

/** One text mutation. */
export function mutateText(
  rng: Rng,
  s: string,
  pool: readonly string[],
): string {
  const at = () => rng.int(s.length + 1);
  switch (rng.int(11)) {
    case 0: { // bit flip of one character
      if (s.length === 0) return s;
      const i = rng.int(s.length);
      const c = s.charCodeAt(i) ^ (1 << rng.int(8));
      return s.slice(0, i) + String.fromCharCode(c) + s.slice(i + 1);
    }
    case 1: // truncate
      return s.slice(0, at());
    case 2: { // splice a piece of another input in
      const o = rng.pick(pool);
      const a = rng.int(o.length + 1), b = a + rng.int(o.length - a + 1);
      const i = at();
      return s.slice(0, i) + o.slice(a, b) + s.slice(i);
    }
    case 3: { // insert a token
      const i = at();
      return s.slice(0, i) + rng.pick(TOKENS) + s.slice(i);
    }
    case 4: { // delete a range
      const i = at(), j = i + rng.int(16);
      return s.slice(0, i) + s.slice(j);
    }
    case 5: { // duplicate a range
      const i = at(), j = i + rng.int(64);
      return s.slice(0, j) + s.slice(i, j) + s.slice(j);
    }
    case 6: { // deep nesting around a point
      const n = rng.pick([64, 200, 5000]);
      const [o, c] = rng.pick([["[", "]"], ['{"a":', "}"], ["(", ")"], [
        "- ",
        "",
      ], ["{a: ", "}"]]);
      const i = at();
      return s.slice(0, i) + o.repeat(n) + s.slice(i) + c.repeat(n);
    }
    case 7: { // a number made huge
      const m = [...s.matchAll(/-?\d+(\.\d+)?/g)];
      if (m.length === 0) return s + rng.pick(HUGE_NUMBERS);
      const x = rng.pick(m);
      return s.slice(0, x.index) + rng.pick(HUGE_NUMBERS) +
        s.slice(x.index! + x[0].length);
    }
    case 8: { // unicode
      const i = at();
      return s.slice(0, i) + rng.pick(UNICODE) + s.slice(i);
    }
    case 9: { // a long run
      const i = at();
      return s.slice(0, i) + rng.pick(["a", "9", " ", "\\", '"']).repeat(
        rng.pick([300, 5000, 70_000]),
      ) + s.slice(i);
    }
    default: // swap two halves
    {
      const i = at();
      return s.slice(i) + s.slice(0, i);
    }
  }
}

/** Text input: 1-4 mutations, JSON-tree ones when the text is JSON. */
export function mutateInput(
  rng: Rng,
  seed: string,
  pool: readonly string[],
  json: boolean,
): string {
  let s = seed;
  if (json && rng.chance(0.5)) {
    try {
      s = JSON.stringify(mutateTree(rng, JSON.parse(s))) ?? "null";
      if (rng.chance(0.5)) return s;
    } catch {
      // not JSON any more: mutate the text
    }
  }
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) s = mutateText(rng, s, pool);
  return s;
}

/** One byte-level mutation. */
export function mutateBytes(
  rng: Rng,
  b: Uint8Array,
  pool: readonly Uint8Array[],
): Uint8Array {
  const at = () => rng.int(b.length + 1);
  const cat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  switch (rng.int(7)) {
    case 0: {
      if (b.length === 0) return b;
      const c = b.slice();
      c[rng.int(c.length)] ^= 1 << rng.int(8);
      return c;
    }
    case 1:
      return b.slice(0, at());
    case 2: {
      const o = rng.pick(pool);
      const i = at();
      return cat(
        b.subarray(0, i),
        o.subarray(rng.int(o.length + 1)),
        b.subarray(i),
      );
    }
    case 3: {
      const r = new Uint8Array(rng.int(32));
      for (let i = 0; i < r.length; i++) r[i] = rng.int(256);
      const i = at();
      return cat(b.subarray(0, i), r, b.subarray(i));
    }
    case 4: { // header fields: type and id
      const c = b.length >= 5
        ? b.slice()
        : cat(b, new Uint8Array(5 - b.length));
      if (rng.chance(0.5)) c[0] = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255]);
      else {
        new DataView(c.buffer).setUint32(
          1,
          rng.pick([0, 1, 0xffffffff, 0x80000000, rng.int(2 ** 32)]),
        );
      }
      return c;
    }
    case 5: { // a big payload
      const n = rng.pick([
        1024,
        1025,
        256 * 1024,
        1024 * 1024,
        1024 * 1024 + 1,
      ]);
      return cat(
        b.subarray(0, 5),
        new Uint8Array(n).fill(rng.pick([0, 0xff, 0x80, 0x41])),
      );
    }
    default: { // invalid UTF-8 in the payload
      const i = Math.min(b.length, 5 + rng.int(8));
      return cat(
        b.subarray(0, i),
        Uint8Array.of(rng.pick([0xc0, 0xed, 0xf8, 0x80, 0xff])),
        b.subarray(i),
      );
    }
  }
}

export interface FuzzFailure {
  iteration: number;
  input: string;
  error: string;
}

export interface FuzzReport {
  name: string;
  seed: number;
  runs: number;
  ms: number;
  failures: FuzzFailure[];
}

function show(input: unknown): string {
  const s = typeof input === "string"
    ? input
    : input instanceof Uint8Array
    ? `bytes[${input.length}] ${[...input.subarray(0, 48)].join(",")}`
    : JSON.stringify(input);
  return s.length > 400 ? `${s.slice(0, 400)}… (${s.length} chars)` : s;
}

/**
 * Runs `check` on `count` mutated inputs. A thrown value that `typed`
 * does not accept is a failure (recorded with its input, not thrown).
 */
export async function fuzz<T>(o: {
  name: string;
  seed: number;
  count: number;
  seeds: readonly T[];
  mutate: (rng: Rng, input: T) => T;
  check: (input: T) => unknown;
  typed: (e: unknown) => boolean;
}): Promise<FuzzReport> {
  const seed = subSeed(o.seed, o.name);
  const rng = new Rng(seed);
  const failures: FuzzFailure[] = [];
  const start = performance.now();
  for (let i = 0; i < o.count; i++) {
    const base = o.seeds[i % o.seeds.length];
    const input = i < o.seeds.length ? base : o.mutate(rng, base);
    try {
      await o.check(input);
    } catch (e) {
      if (!o.typed(e)) {
        failures.push({
          iteration: i,
          input: show(input),
          error: e instanceof Error
            ? `${e.name}: ${e.message}`.slice(0, 300)
            : String(e),
        });
      }
    }
  }
  return {
    name: o.name,
    seed: o.seed,
    runs: o.count,
    ms: Math.round(performance.now() - start),
    failures,
  };
}
