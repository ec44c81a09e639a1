// An agent-like process for tests and the bench: serves the CNI socket at
// the path given as the first argument until SIGTERM. Prints "ready" once
// listening, then one JSON line per operation served ({name, command,
// code, ms}), so a caller can tell the agent ran it.
import { serveCni } from "../../src/cni/server.ts";

const path = Deno.args[0];
if (!path) throw new Error("usage: _cni_server.ts <socket path>");
const stop = new AbortController();
Deno.addSignalListener("SIGTERM", () => stop.abort());
const enc = new TextEncoder();
const say = (line: string) => {
  Deno.stdout.writeSync(enc.encode(line + "\n"));
};
await serveCni({
  path,
  signal: stop.signal,
  ready: () => say("ready"),
  log: (msg) => console.error(msg),
  onServed: (op) =>
    say(JSON.stringify({
      name: op.name,
      command: op.env.CNI_COMMAND,
      code: op.reply.code,
      ms: op.ms,
    })),
});
