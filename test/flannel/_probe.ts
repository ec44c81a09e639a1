// Test-only TCP prober, run inside a namespace with `ip netns exec`:
//   serve HOST PORT                  echo one byte per connection, forever
//   probe HOST PORT EVERY_MS COUNT   one exchange every EVERY_MS (1 s timeout
//                                    each); prints {"ok":N,"lost":M}

const [mode, host, port, everyMs, count] = Deno.args;

async function serve(): Promise<void> {
  const l = Deno.listen({ hostname: host, port: Number(port) });
  console.log("listening");
  for await (const c of l) {
    (async () => {
      const buf = new Uint8Array(1);
      try {
        if (await c.read(buf) === 1) await c.write(buf);
      } finally {
        c.close();
      }
    })().catch(() => {});
  }
}

async function once(): Promise<boolean> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 1000);
  let c: Deno.TcpConn | null = null;
  try {
    c = await Deno.connect({
      hostname: host,
      port: Number(port),
      signal: ac.signal,
    });
    const conn = c;
    const done = (async () => {
      await conn.write(new Uint8Array([7]));
      const buf = new Uint8Array(1);
      return await conn.read(buf) === 1 && buf[0] === 7;
    })();
    const timeout = new Promise<boolean>((r) =>
      ac.signal.addEventListener("abort", () => r(false))
    );
    return await Promise.race([done, timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(t);
    c?.close();
  }
}

async function probe(): Promise<void> {
  let ok = 0, lost = 0;
  for (let i = 0; i < Number(count); i++) {
    const start = performance.now();
    if (await once()) ok++;
    else lost++;
    const left = Number(everyMs) - (performance.now() - start);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
  console.log(JSON.stringify({ ok, lost }));
}

if (mode === "serve") await serve();
else if (mode === "probe") await probe();
else {throw new TypeError(
    `usage: serve HOST PORT | probe HOST PORT EVERY_MS COUNT`,
  );}
