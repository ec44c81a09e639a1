// weft: one binary, many names. The basename of argv[0] picks the program:
// a CNI plugin name runs that plugin, anything else runs the CLI.
// The CNI path must stay lean: it never loads the CLI, hono or YAML.

/** The CNI plugin names this binary answers to. */
export const CNI_PLUGINS = [
  "flannel",
  "bridge",
  "host-local",
  "portmap",
  "bandwidth",
  "loopback",
] as const;

/**
 * argv[0] as the process was started: for `exec -a flannel deno run main.ts`
 * and for a compiled binary behind a symlink alike. Deno.args leaves it out,
 * so it is read from /proc/self/cmdline.
 */
export function argv0(): string {
  try {
    const raw = Deno.readFileSync("/proc/self/cmdline");
    const end = raw.indexOf(0);
    return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
  } catch {
    return Deno.execPath();
  }
}

export function programName(arg0: string): string {
  const slash = arg0.lastIndexOf("/");
  return slash < 0 ? arg0 : arg0.slice(slash + 1);
}

if (import.meta.main) {
  const name = programName(argv0());
  if ((CNI_PLUGINS as readonly string[]).includes(name)) {
    const { runPlugin } = await import("./src/cni/mod.ts");
    Deno.exitCode = await runPlugin(name);
  } else {
    const { main } = await import("./src/cli/mod.ts");
    // The CLI's long-running commands have stopped every task by the time
    // main() returns; a timer some task left behind must not keep the
    // process alive, so the entry point ends it here.
    Deno.exit(await main(Deno.args));
  }
}
