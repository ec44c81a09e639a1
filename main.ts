// weft: one binary, many names. The basename of argv[0] picks the program:
// a CNI plugin name runs that plugin, anything else runs the CLI.
// The CNI path must stay lean: it loads src/cni's skeleton and the plugin
// that runs, never the CLI, hono, YAML or npm packages (test/cni/lean_test.ts).

import {
  argv0,
  CNI_PLUGINS,
  isPluginName,
  programName,
} from "./src/cni/argv0.ts";

export { argv0, CNI_PLUGINS, programName };

if (import.meta.main) {
  const name = programName(argv0());
  if (isPluginName(name)) {
    // The thin client: the local agent runs the plugin, or (no agent) the
    // client runs it in this process.
    const { runClient } = await import("./src/cni/client.ts");
    // Every output is written synchronously: exit without the teardown.
    Deno.exit(
      await runClient(name, () => import("./src/cni/skel.ts"), Deno.args),
    );
  } else {
    const { main } = await import("./src/cli/mod.ts");
    // The CLI's long-running commands have stopped every task by the time
    // main() returns; a timer some task left behind must not keep the
    // process alive, so the entry point ends it here.
    Deno.exit(await main(Deno.args));
  }
}
