// Discovery documents kubectl reads before anything else: /version, /api,
// /api/v1 (the resource list), /apis. /openapi/v2 and /v3 are not served
// (404), which kubectl tolerates for get/label/annotate/delete.

import { NODES, PODS, type ResourceDef } from "./resources.ts";

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
    shortNames: def.shortNames,
    ...(def.kind === "Pod" ? { categories: ["all"] } : {}),
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

export function apiResourceList() {
  return {
    kind: "APIResourceList",
    groupVersion: "v1",
    resources: [
      resource(NODES),
      {
        name: "nodes/proxy",
        singularName: "",
        namespaced: false,
        kind: "NodeProxyOptions",
        verbs: ["create", "delete", "get", "patch", "update"],
      },
      status(NODES),
      resource(PODS),
      status(PODS),
    ],
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

export function apiGroupList() {
  return { kind: "APIGroupList", apiVersion: "v1", groups: [] };
}
