// Test-only TCP transfer, run inside a namespace with `ip netns exec`:
//   sink HOST PORT    accepts one connection, counts the bytes until EOF,
//                     answers with the count, prints {"bytes":N,"from":IP}
//   send HOST PORT N  sends N bytes, half-closes, prints the sink's count

const [mode, host, port, n] = Deno.args;

async function sink(): Promise<void> {
  const l = Deno.listen({ hostname: host, port: Number(port) });
  console.log("listening");
  const c = await l.accept();
  l.close();
  const buf = new Uint8Array(64 * 1024);
  let bytes = 0;
  for (let r = await c.read(buf); r !== null; r = await c.read(buf)) bytes += r;
  await c.write(new TextEncoder().encode(String(bytes)));
  c.close();
  const from = (c.remoteAddr as Deno.NetAddr).hostname;
  console.log(JSON.stringify({ bytes, from }));
}

async function send(): Promise<void> {
  const c = await Deno.connect({ hostname: host, port: Number(port) });
  const chunk = new Uint8Array(64 * 1024).fill(0x5a);
  for (let left = Number(n); left > 0;) {
    const w = await c.write(chunk.subarray(0, Math.min(left, chunk.length)));
    left -= w;
  }
  await c.closeWrite();
  const reply = new Uint8Array(32);
  let text = "";
  for (let r = await c.read(reply); r !== null; r = await c.read(reply)) {
    text += new TextDecoder().decode(reply.subarray(0, r));
  }
  c.close();
  console.log(text);
}

if (mode === "sink") await sink();
else if (mode === "send") await send();
else throw new TypeError("usage: sink HOST PORT | send HOST PORT N");
