// Which plugin a process is: the basename of argv[0] (a symlink's name for
// the compiled binary, `exec -a` for a wrapper), read without loading
// anything else - this runs before every plugin start.

/** The CNI plugin names weft answers to. */
export const CNI_PLUGINS = [
  "flannel",
  "bridge",
  "host-local",
  "portmap",
  "bandwidth",
  "loopback",
] as const;
export type CniPluginName = typeof CNI_PLUGINS[number];

/** True when `name` is one of weft's CNI plugins. */
export function isPluginName(name: string): boolean {
  return (CNI_PLUGINS as readonly string[]).includes(name);
}

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
