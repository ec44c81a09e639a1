// A real API server in its own process, for the connection and watch
// regression tests: spawnApiProcess() starts this file (optionally under
// `prlimit --nofile=N`), which serves the API on 127.0.0.1 (ephemeral port)
// and prints one JSON line {port, caPem}. It then answers commands on stdin,
// one per line, with one JSON line each: "stats" -> the front's counters
// (after a full GC, so that RSS read right after shows live memory). EOF
// on stdin stops the server; the process exits 0.

import { createNodeIpam, startApiServer } from "../../src/api/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { testAuthenticate } from "../api/_fixture.ts";
import { makeTestCert } from "../api/_tls.ts";

/** Splits a byte stream into lines (without their "\n"). */
function lines(bytes: ReadableStream<Uint8Array>): ReadableStream<string> {
  let rest = "";
  return bytes.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(text, out) {
        const parts = (rest + text).split("\n");
        rest = parts.pop()!;
        for (const p of parts) out.enqueue(p);
      },
      flush(out) {
        if (rest) out.enqueue(rest);
      },
    }),
  );
}

async function serve(): Promise<void> {
  const env = (k: string) => {
    const v = Deno.env.get(k);
    return v ? Number(v) : undefined;
  };
  const tls = await makeTestCert();
  const store = openSqliteStore(`${tls.dir}/state.db`);
  const server = await startApiServer({
    store,
    ipam: createNodeIpam(store, { clusterCidrs: "10.42.0.0/16" }),
    authenticate: testAuthenticate,
    cert: tls.cert,
    key: tls.key,
    port: 0,
    hostname: "127.0.0.1",
    limits: {
      headTimeoutMs: env("WEFT_TEST_HEAD_TIMEOUT_MS"),
      idleTimeoutMs: env("WEFT_TEST_IDLE_TIMEOUT_MS"),
    },
    log: (m) => console.error(m),
  });
  console.log(JSON.stringify({ port: server.port, caPem: tls.caPem }));
  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const line of lines(Deno.stdin.readable)) {
    if (line === "stats") {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
      gc?.();
      const m = Deno.memoryUsage();
      console.log(JSON.stringify({
        ...server.stats(),
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
      }));
    }
  }
  await server.close();
  store.close();
  await Deno.remove(tls.dir, { recursive: true });
}

if (import.meta.main) await serve();

export interface ApiProcess {
  pid: number;
  port: number;
  caPem: string;
  /** The front's counters (descriptors, unfinished, connections). */
  stats(): Promise<
    {
      fds: number;
      unfinished: number;
      connections: number;
      heapUsed: number;
      heapTotal: number;
      external: number;
    }
  >;
  /** Resident memory (VmRSS) in KiB. */
  rssKiB(): Promise<number>;
  /** Whether the process still runs. */
  alive(): Promise<boolean>;
  /** Stops the server; its exit code and log. */
  stop(): Promise<{ code: number; log: string }>;
  /** A TLS connection to the server. */
  dial(): Promise<Deno.TlsConn>;
}

/** Starts the server process; `nofile` caps its descriptors (prlimit). */
export async function spawnApiProcess(
  opts: { nofile?: number; env?: Record<string, string> } = {},
): Promise<ApiProcess> {
  const deno = [
    Deno.execPath(),
    "run",
    "-A",
    "-q",
    "--v8-flags=--expose-gc",
    new URL(import.meta.url).pathname,
  ];
  const argv = opts.nofile
    ? ["prlimit", `--nofile=${opts.nofile}`, ...deno]
    : deno;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: opts.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  const out = lines(child.stdout).getReader();
  const stdin = child.stdin.getWriter();
  const status = child.status;
  const nextLine = async () => {
    const r = await out.read();
    if (r.done) {
      throw new Error(`the server process exited: ${await log}`);
    }
    return JSON.parse(r.value);
  };
  const first = await nextLine();
  let exited = false;
  status.then(() => (exited = true));
  const stop = async () => {
    await stdin.close().catch(() => {});
    const s = await status;
    await out.cancel().catch(() => {});
    return { code: s.code, log: await log };
  };
  return {
    pid: child.pid,
    port: first.port,
    caPem: first.caPem,
    stats: async () => {
      await stdin.write(new TextEncoder().encode("stats\n"));
      return await nextLine();
    },
    rssKiB: async () => {
      const text = await Deno.readTextFile(`/proc/${child.pid}/status`);
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(text)![1]);
    },
    alive: () => Promise.resolve(!exited),
    stop,
    dial: () =>
      Deno.connectTls({
        hostname: "127.0.0.1",
        port: first.port,
        caCerts: [first.caPem],
      }),
  };
}
