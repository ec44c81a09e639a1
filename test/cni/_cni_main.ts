// `weft cni ...` without the rest of the CLI, for tests that need the
// runtime as its own process (to SIGKILL it).
import { cniCommand } from "../../src/cni/mod.ts";

Deno.exitCode = await cniCommand(Deno.args);
