// Network namespace sandboxes for tests. Every namespace a test makes is
// named weft-t-<pid>-<worker>-<n>-<tag>, removed when the sandbox is disposed (also when the
// test fails), and a namespace left by a crashed run (its pid is gone) is
// swept before the first new one is made.

const PREFIX = "weft-t-";
let counter = 0;
let swept = false;
// `deno test --parallel` runs test files as workers of one process: they
// share the pid but each has its own copy of this module, so the counter
// alone would repeat across files. A per-worker random tag keeps names apart.
const worker = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; returns its exit code and output. */
export async function run(
  cmd: string[],
  opts: { stdin?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs a command and throws with its stderr when it fails. */
export async function sh(...cmd: string[]): Promise<string> {
  const r = await run(cmd);
  if (r.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Removes weft-t-* namespaces whose creating process is gone. */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync("/run/netns")].map((e) => e.name);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = name.match(/^weft-t-(\d+)-/);
    if (!m || pidAlive(Number(m[1]))) continue;
    await run(["ip", "netns", "del", name]);
    removed.push(name);
  }
  return removed;
}

/** One network namespace for a test. `await using ns = await Netns.create()`. */
export class Netns implements AsyncDisposable {
  private constructor(readonly name: string) {}

  /** Creates a fresh namespace with `lo` up. */
  static async create(tag = "ns"): Promise<Netns> {
    if (!swept) {
      swept = true;
      await sweepStale();
    }
    const name = `${PREFIX}${Deno.pid}-${worker}-${++counter}-${tag}`;
    await sh("ip", "netns", "add", name);
    const ns = new Netns(name);
    await ns.sh("ip", "link", "set", "lo", "up");
    return ns;
  }

  get path(): string {
    return `/run/netns/${this.name}`;
  }

  /** Runs a command inside the namespace. */
  run(
    cmd: string[],
    opts: { stdin?: string; env?: Record<string, string> } = {},
  ): Promise<RunResult> {
    return run(["ip", "netns", "exec", this.name, ...cmd], opts);
  }

  /** Runs a command inside the namespace; throws when it fails. */
  sh(...cmd: string[]): Promise<string> {
    return sh("ip", "netns", "exec", this.name, ...cmd);
  }

  /** Runs a `-j` command (ip -j, bridge -j) inside and parses its JSON. */
  async json<T = unknown>(...cmd: string[]): Promise<T> {
    const out = await this.sh(...cmd);
    return JSON.parse(out.trim() === "" ? "[]" : out) as T;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Processes still inside (a server under test) are the test's to stop;
    // the namespace goes regardless.
    await run(["ip", "netns", "del", this.name]);
  }
}

/** Names of all weft-t-* namespaces of this process (for leak checks). */
export function ownNamespaces(): string[] {
  try {
    return [...Deno.readDirSync("/run/netns")]
      .map((e) => e.name)
      .filter((n) => n.startsWith(`${PREFIX}${Deno.pid}-`));
  } catch {
    return [];
  }
}
