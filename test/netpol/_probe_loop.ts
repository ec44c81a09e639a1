// From inside a pod's netns: TCP connects to host:port again and again for
// `ms` milliseconds (each bounded to 150 ms); prints "READY" once started
// and finally JSON {attempts, successes}.
// Usage: deno run -A _probe_loop.ts <host> <port> <ms>

const [host, port, ms] = [
  Deno.args[0],
  Number(Deno.args[1]),
  Number(Deno.args[2]),
];
const end = Date.now() + ms;
let attempts = 0, successes = 0;
console.log("READY");
while (Date.now() < end) {
  attempts++;
  const ok = await Promise.race([
    Deno.connect({ hostname: host, port }).then((c) => {
      c.close();
      return true;
    }, () => false),
    new Promise<boolean>((r) => setTimeout(() => r(false), 150)),
  ]);
  if (ok) successes++;
  await new Promise((r) => setTimeout(r, 10));
}
console.log(JSON.stringify({ attempts, successes }));
Deno.exit(0);
