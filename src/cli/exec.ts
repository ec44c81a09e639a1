// Runs a command to completion and captures its output (demo, doctor).

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export async function exec(
  cmd: string[],
  opts: { env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Output> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: opts.env,
    signal: opts.signal,
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}
