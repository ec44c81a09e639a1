// "host:port" targets: parsing and the egress selector modes.

import { joinHostPort } from "../net/mod.ts";

/** The egress selector modes (as K3s); the flag table imports this list. */
export const EGRESS_MODES = ["agent", "pod", "cluster", "disabled"] as const;
export type EgressMode = typeof EGRESS_MODES[number];

/** The label nodes set on themselves in pod and cluster modes (as K3s). */
export const EGRESS_LABEL = "egress.k3s.io/cluster";
export const DEFAULT_NODE_ENDPOINT_PORT = 10250;

// The websocket's path and node header are shared by both sides; they live
// here, not in server.ts, so that the agent side never loads the server's.
/** The path agents open their websocket on. */
export const CONNECT_PATH = "/v1-weft/connect";
/** Optional header naming the node; must match the credential's node. */
export const NODE_HEADER = "X-Weft-Node-Name";

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6]:port"; TypeError on anything else. */
export function parseTarget(target: string): HostPort {
  const m = target.match(/^\[([0-9a-fA-F:.]+)\]:(\d+)$/) ??
    target.match(/^([^:\[\]\s/]+):(\d+)$/);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new TypeError(
      `bad target ${JSON.stringify(target)}: want host:port or [ipv6]:port`,
    );
  }
  return { host: m[1], port };
}

/** "host:port", an IPv6 host in brackets. */
export const formatTarget: (host: string, port: number) => string =
  joinHostPort;

export function checkMode(mode: string): EgressMode {
  if (!(EGRESS_MODES as readonly string[]).includes(mode)) {
    throw new TypeError(
      `bad egress selector mode ${JSON.stringify(mode)}: want one of ${
        EGRESS_MODES.join(", ")
      }`,
    );
  }
  return mode as EgressMode;
}
