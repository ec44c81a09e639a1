// Probes targets from inside a pod's netns, all at once; prints a JSON list
// of booleans (answered or not within the timeout).
// Usage: deno run -A --unstable-net _probe.ts '[["10.22.0.3","tcp",80],...]'

type Target = [string, "tcp" | "udp", number];
const targets = JSON.parse(Deno.args[0]) as Target[];
const TIMEOUT = 1200;
const timeout = () =>
  new Promise<boolean>((r) => setTimeout(() => r(false), TIMEOUT));

async function tcp(host: string, port: number): Promise<boolean> {
  const c = await Deno.connect({ hostname: host, port });
  const buf = new Uint8Array(64);
  const n = await c.read(buf);
  c.close();
  return (n ?? 0) > 0;
}

async function udp(host: string, port: number): Promise<boolean> {
  const v6 = host.includes(":");
  const s = Deno.listenDatagram({
    transport: "udp",
    hostname: v6 ? "::" : "0.0.0.0",
    port: 0,
  });
  await s.send(new TextEncoder().encode("hi"), {
    transport: "udp",
    hostname: host,
    port,
  });
  await s.receive();
  s.close();
  return true;
}

const results = await Promise.all(targets.map(([h, p, port]) =>
  Promise.race([
    (p === "tcp" ? tcp(h, port) : udp(h, port)).catch(() => false),
    timeout(),
  ])
));
console.log(JSON.stringify(results));
Deno.exit(0);
