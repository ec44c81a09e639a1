// Replacing the running program with itself under another environment
// (execve(2) of /proc/self/exe with the same argv): the process keeps its
// pid, its parent and its open stdio, so whoever started it (a service
// manager, the demo, a test) still holds the right process. Deno has no
// exec; V8's heap settings and glibc's malloc settings are read only at
// start, so this is how a command applies them to itself.

import { LibraryError } from "./errors.ts";

const libc = {
  // int execve(const char *pathname, char *const argv[], char *const envp[])
  execve: {
    parameters: [
      "buffer", // pathname (NUL-terminated)
      "buffer", // argv (NULL-terminated array of char *)
      "buffer", // envp (NULL-terminated array of char *)
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const enc = new TextEncoder();

function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = enc.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A NULL-terminated char *[] over `strings`; `keep` holds the strings. */
function cArray(
  strings: string[],
  keep: Uint8Array[],
): BigUint64Array<ArrayBuffer> {
  const arr = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    const c = cString(s);
    keep.push(c);
    arr[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(c)));
  });
  return arr;
}

/** This process's argv as the kernel holds it (argv[0] included). */
export function selfArgv(): string[] {
  const raw = Deno.readFileSync("/proc/self/cmdline");
  const parts = new TextDecoder().decode(raw).split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/**
 * Execs /proc/self/exe with `argv` (default: this process's) and `env` as
 * its whole environment. Returns only by throwing: LibraryError when libc
 * cannot be loaded, Error when execve fails.
 */
export function execSelf(
  env: Record<string, string>,
  argv: string[] = selfArgv(),
): never {
  let lib: Deno.DynamicLibrary<typeof libc>;
  try {
    lib = Deno.dlopen("libc.so.6", libc);
  } catch (cause) {
    throw new LibraryError(`cannot load libc.so.6 for execve`, { cause });
  }
  const keep: Uint8Array[] = [];
  const args = cArray(argv, keep);
  const envp = cArray(
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
    keep,
  );
  lib.symbols.execve(cString("/proc/self/exe"), args, envp);
  lib.close();
  throw new Error("execve /proc/self/exe failed");
}
