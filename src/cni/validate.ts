// The identifier rules of the CNI spec: container id, network name,
// interface name, CNI_ARGS.

import { CniError, ErrorCode } from "./plugin.ts";

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function validateContainerId(id: string): void {
  if (id === "") {
    throw new CniError(ErrorCode.UnknownContainer, "missing containerID");
  }
  if (!ID_RE.test(id)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      "invalid characters in containerID",
      id,
    );
  }
}

export function validateNetworkName(name: unknown): void {
  if (name === undefined || name === null || name === "") {
    throw new CniError(ErrorCode.InvalidNetworkConfig, "missing network name");
  }
  if (typeof name !== "string" || !ID_RE.test(name)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "invalid characters found in network name",
      String(name),
    );
  }
}

/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME = 15;

export function validateIfname(name: string): void {
  const fail = (msg: string) =>
    new CniError(ErrorCode.InvalidEnvironment, msg, name);
  if (name === "") throw fail("interface name is empty");
  if (new TextEncoder().encode(name).length > MAX_IFNAME) {
    throw fail(`interface name is too long (max ${MAX_IFNAME} bytes)`);
  }
  if (name === "." || name === "..") throw fail("interface name is . or ..");
  if (/[/:\s]/.test(name)) {
    throw fail("interface name contains / or : or whitespace characters");
  }
}

/** Parses CNI_ARGS ("K=V;K2=V2"); an element without "=" is code 4. */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `CNI_ARGS: invalid pair "${pair}"`,
      );
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
