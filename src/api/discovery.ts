// Discovery documents kubectl reads before anything else: /version, /api,
// /api/v1 (the resource list), /apis and each named group, all from the
// resource table.

import { NODES, type ResourceDef, RESOURCES } from "./resources.ts";

export const KUBE_VERSION = { major: "1", minor: "32", patch: "0" };

export function versionInfo(): Record<string, string> {
  const v =
    `v${KUBE_VERSION.major}.${KUBE_VERSION.minor}.${KUBE_VERSION.patch}+weft`;
  return {
    major: KUBE_VERSION.major,
    minor: KUBE_VERSION.minor,
    gitVersion: v,
    gitCommit: "",
    gitTreeState: "clean",
    buildDate: "",
    goVersion: `deno ${Deno.version.deno}`,
    compiler: "deno",
    platform: `${Deno.build.os}/${
      Deno.build.arch === "x86_64" ? "amd64" : "arm64"
    }`,
  };
}

const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];

function resource(def: ResourceDef) {
  return {
    name: def.plural,
    singularName: def.singular,
    namespaced: def.namespaced,
    kind: def.kind,
    verbs: VERBS,
    ...(def.shortNames.length ? { shortNames: def.shortNames } : {}),
    ...(def.categories.length ? { categories: def.categories } : {}),
  };
}

function status(def: ResourceDef) {
  return {
    name: `${def.plural}/status`,
    singularName: "",
    namespaced: def.namespaced,
    kind: def.kind,
    verbs: ["get", "patch", "update"],
  };
}

/** The resources of one group/version, from the resource table. */
export function apiResourceList(group = "", version = "v1") {
  const resources: Record<string, unknown>[] = [];
  for (const def of RESOURCES) {
    if (def.group !== group || def.version !== version) continue;
    resources.push(resource(def));
    if (def === NODES) {
      resources.push({
        name: "nodes/proxy",
        singularName: "",
        namespaced: false,
        kind: "NodeProxyOptions",
        verbs: ["create", "delete", "get", "patch", "update"],
      });
    }
    if (def.status) resources.push(status(def));
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

export function apiVersions(serverAddress: string) {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [
      { clientCIDR: "0.0.0.0/0", serverAddress },
    ],
  };
}

/** The named groups of the table and their versions. */
export function apiGroups() {
  const groups = new Map<string, string[]>();
  for (const def of RESOURCES) {
    if (!def.group) continue;
    const versions = groups.get(def.group) ?? [];
    if (!versions.includes(def.version)) versions.push(def.version);
    groups.set(def.group, versions);
  }
  return [...groups].map(([name, versions]) => ({
    kind: "APIGroup",
    apiVersion: "v1",
    name,
    versions: versions.map((version) => ({
      groupVersion: `${name}/${version}`,
      version,
    })),
    preferredVersion: {
      groupVersion: `${name}/${versions[0]}`,
      version: versions[0],
    },
  }));
}

export function apiGroupList() {
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: apiGroups().map(({ kind: _k, apiVersion: _a, ...g }) => g),
  };
}
