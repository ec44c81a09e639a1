// The entry of an exec'd CNI plugin started from source: the installer's
// wrappers run this file (or its bundle, made at install time) with the
// plugin's name as the first argument; without one, argv[0] names it. It
// loads the thin client (src/cni/client.ts), which hands the operation to
// the local agent; only when no agent answers does it load the skeleton and
// the plugin (src/cni/skel.ts, or its bundle LOCAL_BUNDLE beside this
// one's) - nothing of the CLI, hono, YAML or npm either way.

import { argv0, isPluginName, programName } from "./argv0.ts";
import { type LocalPlugin, runClient } from "./client.ts";

/** The installer's bundle of src/cni/skel.ts, beside the entry's bundle. */
export const LOCAL_BUNDLE = ".weft-cni-local.js";

/**
 * The skeleton, imported by a computed specifier so that Deno does not load
 * its graph on every start (it prefetches literal dynamic imports).
 */
export function loadLocal(base = import.meta.url): Promise<LocalPlugin> {
  const rel = base.endsWith(".js") ? `./${LOCAL_BUNDLE}` : "./skel.ts";
  return import(new URL(rel, base).href) as Promise<LocalPlugin>;
}

if (import.meta.main) {
  const arg = Deno.args[0] ?? "";
  const named = isPluginName(arg);
  const name = named ? arg : programName(argv0());
  // Exit at once: every output is written synchronously, and skipping the
  // runtime's orderly teardown saves a few ms of each pod operation.
  Deno.exit(
    await runClient(name, loadLocal, Deno.args.slice(named ? 1 : 0)),
  );
}
