// A pod's servers: TCP and UDP on ports 80 and 81 (IPv4 and IPv6), each
// answering with the pod's name. Prints "ready" once all listen.
// Usage (inside the pod's netns): deno run -A --unstable-net _echo.ts <name>

const name = new TextEncoder().encode(Deno.args[0] ?? "pod");
for (const port of [80, 81]) {
  const tcp = Deno.listen({ hostname: "::", port });
  (async () => {
    for await (const c of tcp) {
      c.write(name).catch(() => {}).finally(() => c.close());
    }
  })();
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "::", port });
  (async () => {
    for await (const [, addr] of udp) await udp.send(name, addr).catch(() => 0);
  })();
}
console.log("ready");
