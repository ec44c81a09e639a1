// Child of the HA test, run inside a pod's namespace: a TCP exchange with
// `ip:port` every `intervalMs`, printing "ok" or "lost" per probe, until
// killed.

const [ip, port, intervalMs] = [
  Deno.args[0],
  Number(Deno.args[1]),
  Number(Deno.args[2] ?? 100),
];
const enc = new TextEncoder();

async function probe(): Promise<boolean> {
  const timer = AbortSignal.timeout(1000);
  try {
    const conn = await Deno.connect({ hostname: ip, port, signal: timer });
    try {
      await conn.write(enc.encode("GET / HTTP/1.0\r\n\r\n"));
      const buf = new Uint8Array(512);
      const n = await Promise.race([
        conn.read(buf),
        new Promise<null>((r) =>
          timer.addEventListener("abort", () => r(null), { once: true })
        ),
      ]);
      return n !== null && n > 0;
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

while (true) {
  const started = Date.now();
  const ok = await probe();
  await Deno.stdout.write(enc.encode(ok ? "ok\n" : "lost\n"));
  await new Promise((r) =>
    setTimeout(r, Math.max(0, intervalMs - (Date.now() - started)))
  );
}
