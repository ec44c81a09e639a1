import { assertEquals } from "@std/assert";
import { setListenerNoDelay } from "../../ffi/mod.ts";

Deno.test("setListenerNoDelay() finds this process's listening socket by port and sets it", () => {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  assertEquals(setListenerNoDelay(port), 1);
});

Deno.test("setListenerNoDelay() sets nothing for a port with no listener of ours", () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  assertEquals(setListenerNoDelay(port), 0);
});
