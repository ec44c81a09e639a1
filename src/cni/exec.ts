// Running a plugin binary the way libcni does: find it on a directory list,
// pass the CNI_* environment and the config on stdin, read the result (or
// the error JSON) from stdout. Retried when the binary is being written
// ("text file busy").

import { CniError, type Command, ErrorCode } from "./plugin.ts";

export interface ExecRequest {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS, already joined ("K=V;K2=V2"). */
  args: string;
  /** Directories searched for the binary; also passed as CNI_PATH. */
  path: string[];
  /** Environment inherited by the plugin (CNI_* keys are overwritten). */
  env?: Record<string, string>;
}

/** Finds `type` in the directory list; throws when it is not there. */
export function findPlugin(type: string, dirs: string[]): string {
  if (!type || type.includes("/")) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid plugin type "${type}"`,
    );
  }
  for (const dir of dirs) {
    if (!dir) continue;
    const full = `${dir.replace(/\/+$/, "")}/${type}`;
    try {
      const st = Deno.statSync(full);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return full;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    ErrorCode.Internal,
    `failed to find plugin "${type}" in path ${JSON.stringify(dirs)}`,
  );
}

/** Joins a CNI_ARGS map. */
export function joinArgs(args: Record<string, string>): string {
  return Object.entries(args).map(([k, v]) => `${k}=${v}`).join(";");
}

/**
 * Execs plugin `type` with `stdin`; returns its parsed stdout (undefined when
 * empty) or throws the plugin's error as a CniError.
 */
export async function execPlugin(
  type: string,
  req: ExecRequest,
  stdin: string,
): Promise<unknown> {
  const bin = findPlugin(type, req.path);
  const env: Record<string, string> = {
    ...(req.env ?? {}),
    CNI_COMMAND: req.command,
    CNI_CONTAINERID: req.containerId,
    CNI_NETNS: req.netns,
    CNI_IFNAME: req.ifname,
    CNI_ARGS: req.args,
    CNI_PATH: req.path.join(":"),
  };
  const out = await spawnWithRetry(bin, env, stdin);
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0) throw pluginError(type, text, out.stderr);
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `plugin "${type}" printed invalid JSON`,
      text.slice(0, 200),
      { cause: err },
    );
  }
}

async function spawnWithRetry(
  bin: string,
  env: Record<string, string>,
  stdin: string,
): Promise<Deno.CommandOutput> {
  for (let attempt = 0;; attempt++) {
    try {
      const child = new Deno.Command(bin, {
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin)).catch(() => {});
      await w.close().catch(() => {});
      return await child.output();
    } catch (err) {
      const busy = err instanceof Error && /text file busy/i.test(err.message);
      if (!busy || attempt >= 4) {
        throw new CniError(
          ErrorCode.Internal,
          `failed to exec plugin ${bin}: ${(err as Error).message}`,
          undefined,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
}

function pluginError(
  type: string,
  stdout: string,
  stderr: Uint8Array,
): CniError {
  try {
    const e = JSON.parse(stdout);
    if (typeof e?.code === "number" && typeof e?.msg === "string") {
      return new CniError(
        e.code,
        e.msg,
        typeof e.details === "string" ? e.details : undefined,
      );
    }
  } catch {
    // not an error object: fall through to stderr
  }
  const err = new TextDecoder().decode(stderr).trim();
  return new CniError(
    ErrorCode.Internal,
    `plugin "${type}" failed: ${err || stdout || "no output"}`,
  );
}
