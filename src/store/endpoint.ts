// The datastore endpoint, in K3s's syntax: empty or sqlite://<path> for the
// embedded SQLite file, or a comma-separated list of etcd client URLs
// (https://etcd-1:2379,https://etcd-2:2379; http:// too). No heavy imports:
// the CLI checks flags with this before anything is loaded.

import { StoreError } from "./errors.ts";

export type Datastore =
  | { kind: "sqlite"; path: string }
  | { kind: "etcd"; endpoints: string[] };

const MAX_ENDPOINTS = 16;
const ETCD_DEFAULT_PORT = "2379";

/** Parses an etcd endpoint list; StoreError naming the bad part. */
function parseEtcd(endpoint: string): string[] {
  const parts = endpoint.split(",").map((s) => s.trim()).filter((s) => s);
  if (parts.length === 0 || parts.length > MAX_ENDPOINTS) {
    throw new StoreError(
      `datastore endpoint ${
        JSON.stringify(endpoint)
      }: give 1 to ${MAX_ENDPOINTS} etcd URLs separated by commas`,
    );
  }
  const out = parts.map((p) => {
    let u: URL;
    try {
      u = new URL(p);
    } catch {
      throw new StoreError(
        `datastore endpoint ${
          JSON.stringify(p)
        } is not a URL (like https://10.0.0.1:2379)`,
      );
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new StoreError(
        `datastore endpoint ${
          JSON.stringify(p)
        }: mixed schemes; every etcd URL is http:// or https://`,
      );
    }
    if (
      u.username || u.password || (u.pathname !== "/" && u.pathname) || u.search
    ) {
      throw new StoreError(
        `datastore endpoint ${
          JSON.stringify(p)
        }: an etcd URL is scheme://host:port, nothing more`,
      );
    }
    return `${u.protocol}//${u.hostname}:${u.port || ETCD_DEFAULT_PORT}`;
  });
  const schemes = new Set(out.map((u) => u.slice(0, u.indexOf(":"))));
  if (schemes.size > 1) {
    throw new StoreError(
      `datastore endpoint ${
        JSON.stringify(endpoint)
      } mixes http:// and https://`,
    );
  }
  return out;
}

/** Which datastore `endpoint` names; `defaultPath` when it is empty. */
export function parseDatastoreEndpoint(
  endpoint: string | undefined,
  defaultPath: string,
): Datastore {
  if (!endpoint) return { kind: "sqlite", path: defaultPath };
  if (endpoint.startsWith("sqlite://")) {
    const path = endpoint.slice("sqlite://".length).split("?")[0];
    return { kind: "sqlite", path: path || defaultPath };
  }
  if (/^https?:\/\//.test(endpoint)) {
    return { kind: "etcd", endpoints: parseEtcd(endpoint) };
  }
  const scheme = endpoint.match(/^([a-z0-9+.-]+):\/\//i)?.[1];
  throw new StoreError(
    `datastore endpoint ${JSON.stringify(endpoint)}: ${
      scheme ? `the ${scheme}:// scheme is not supported` : "no scheme"
    }; use sqlite://<path> or etcd URLs (https://host:2379,...)`,
  );
}
