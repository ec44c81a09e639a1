// The entry of an exec'd CNI plugin started from source: the installer's
// wrappers run this file (or its bundle, made at install time) with the
// plugin's name as the first argument; without one, argv[0] names it. It
// loads the skeleton and, lazily, the one plugin that runs — nothing of the
// CLI, hono, YAML or npm.

import { argv0, isPluginName, programName } from "./argv0.ts";
import { runPlugin } from "./skel.ts";

if (import.meta.main) {
  const arg = Deno.args[0] ?? "";
  const name = isPluginName(arg) ? arg : programName(argv0());
  // Exit at once: every output is written synchronously, and skipping the
  // runtime's orderly teardown saves a few ms of each pod operation.
  Deno.exit(await runPlugin(name));
}
