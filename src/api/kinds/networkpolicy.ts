// NetworkPolicy (networking.k8s.io/v1): the row of the resource table, its
// schema (the names kube-apiserver's OpenAPI uses, so `kubectl explain
// networkpolicy.spec.podSelector` reads the same) and its columns. Writes
// are defaulted and validated as kube-apiserver does it (422 Invalid with a
// cause per field), by the same validator the agents' controller uses: the validator
// file is imported directly so the API never loads nft or controller code.
// Nodes read policies (their controllers enforce them) and never write them.

import { ApiError } from "../errors.ts";
import { isObject, type KubeObject } from "../object.ts";
import {
  arr,
  int,
  META,
  obj,
  ref,
  type Schema,
  str,
  strMap,
} from "../openapi/schema.ts";
import type { ResourceDef } from "../resources.ts";
import { age, col, get, type Printer } from "../table.ts";
import { networkPolicyCauses } from "../../netpol/validate.ts";
import { NetworkPolicyInvalid } from "../../netpol/errors.ts";

const NET = "io.k8s.api.networking.v1";
const NAME = `${NET}.NetworkPolicy`;
const SELECTOR = `${META}.LabelSelector`;
const INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

const definitions: Record<string, Schema> = {
  [NAME]: obj({
    spec: ref(
      `${NET}.NetworkPolicySpec`,
      "The desired behavior of the policy.",
    ),
  }, "Which network traffic is allowed for a set of pods."),
  [`${NET}.NetworkPolicySpec`]: obj(
    {
      podSelector: ref(
        SELECTOR,
        "The pods of the policy's namespace the policy applies to; an empty selector selects them all.",
      ),
      ingress: arr(
        ref(`${NET}.NetworkPolicyIngressRule`),
        "Traffic allowed into the selected pods (added to what other policies allow). Empty with policyTypes Ingress: nothing is allowed in.",
      ),
      egress: arr(
        ref(`${NET}.NetworkPolicyEgressRule`),
        "Traffic allowed out of the selected pods (added to what other policies allow). Empty with policyTypes Egress: nothing is allowed out.",
      ),
      policyTypes: arr(
        str(),
        'Which directions the policy isolates: "Ingress", "Egress" or both. Default: Ingress, plus Egress when egress rules are given.',
      ),
    },
    "The policy's selected pods and the traffic allowed for them.",
    ["podSelector"],
  ),
  [`${NET}.NetworkPolicyIngressRule`]: obj(
    {
      from: arr(
        ref(`${NET}.NetworkPolicyPeer`),
        "Sources allowed in; empty or missing: any source.",
      ),
      ports: arr(
        ref(`${NET}.NetworkPolicyPort`),
        "Ports allowed; empty or missing: every port.",
      ),
    },
    "Traffic allowed into the selected pods: from these peers to these ports.",
  ),
  [`${NET}.NetworkPolicyEgressRule`]: obj({
    to: arr(
      ref(`${NET}.NetworkPolicyPeer`),
      "Destinations allowed; empty or missing: any destination.",
    ),
    ports: arr(
      ref(`${NET}.NetworkPolicyPort`),
      "Ports allowed; empty or missing: every port.",
    ),
  }, "Traffic allowed out of the selected pods: to these peers and ports."),
  [`${NET}.NetworkPolicyPeer`]: obj({
    podSelector: ref(
      SELECTOR,
      "Pods (in the policy's namespace, or in the namespaces namespaceSelector picks).",
    ),
    namespaceSelector: ref(
      SELECTOR,
      "Namespaces whose pods are peers; with podSelector, only those pods of them.",
    ),
    ipBlock: ref(
      `${NET}.IPBlock`,
      "A CIDR; may not be combined with the selectors.",
    ),
  }, "A peer: pods by selectors, or addresses by CIDR."),
  [`${NET}.IPBlock`]: obj(
    {
      cidr: str('A CIDR, such as "192.168.1.0/24" or "2001:db8::/64".'),
      except: arr(
        str(),
        "CIDRs inside cidr that are not part of the block.",
      ),
    },
    "A block of addresses, minus exceptions.",
    ["cidr"],
  ),
  [`${NET}.NetworkPolicyPort`]: obj({
    protocol: str("TCP (default), UDP or SCTP."),
    port: ref(
      INT_OR_STRING,
      "A port number, or the name of a port the pod declares; missing: every port.",
    ),
    endPort: int(
      "With a numeric port: the last port of the range port..endPort.",
    ),
  }, "A port and protocol, or a range of ports."),
  [SELECTOR]: {
    ...obj({
      matchLabels: strMap(
        "Labels that must all be present with these values.",
      ),
      matchExpressions: arr(
        ref(`${META}.LabelSelectorRequirement`),
        "Requirements that must all hold.",
      ),
    }, "A label query; an empty selector matches every object."),
    "x-kubernetes-map-type": "atomic",
  },
  [`${META}.LabelSelectorRequirement`]: obj(
    {
      key: str("The label key."),
      operator: str("In, NotIn, Exists or DoesNotExist."),
      values: arr(
        str(),
        "Values for In and NotIn (non-empty); empty for Exists and DoesNotExist.",
      ),
    },
    "A requirement on one label.",
    ["key", "operator"],
  ),
  // No `type` (kube's v3 document has oneOf integer/string here): kubectl
  // explain then names the type IntOrString, as it does for kube.
  [INT_OR_STRING]: {
    format: "int-or-string",
    "x-kubernetes-int-or-string": true,
    description: "An integer or a string.",
  },
};

/** A label selector as `kubectl get` prints it (kube's
 * FormatLabelSelector): requirements sorted by key, "<none>" when empty. */
export function formatSelector(sel: unknown): string {
  const reqs: [string, string][] = [];
  const s = typeof sel === "object" && sel !== null
    ? sel as Record<string, unknown>
    : {};
  const labels = s.matchLabels;
  if (typeof labels === "object" && labels !== null) {
    for (const [k, v] of Object.entries(labels)) reqs.push([k, `${k}=${v}`]);
  }
  for (const e of Array.isArray(s.matchExpressions) ? s.matchExpressions : []) {
    if (typeof e !== "object" || e === null) continue;
    const { key, operator, values } = e as Record<string, unknown>;
    const k = String(key);
    const vs = Array.isArray(values) ? values.map(String).sort().join(",") : "";
    const text = operator === "In"
      ? `${k} in (${vs})`
      : operator === "NotIn"
      ? `${k} notin (${vs})`
      : operator === "Exists"
      ? k
      : operator === "DoesNotExist"
      ? `!${k}`
      : null;
    if (text !== null) reqs.push([k, text]);
  }
  if (reqs.length === 0) return "<none>";
  return reqs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    .map(([, t]) => t).join(",");
}

const printer: Printer = {
  columns: [
    col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
    col("Pod-Selector", "Pod selector"),
    col("Age", "CreationTimestamp of the object."),
  ],
  cells: (p, now) => [
    p.metadata.name ?? "",
    formatSelector(get(p, "spec.podSelector")),
    age(p, now),
  ],
};

/** kube-apiserver's defaults (SetDefaults_NetworkPolicy and _Port): a
 * port's protocol is TCP; policyTypes, when empty, is Ingress, plus Egress
 * when there are egress rules. Any shape is tolerated: validation follows. */
function setDefaults(p: KubeObject): void {
  const spec = p.spec;
  if (!isObject(spec)) return;
  for (const rules of [spec.ingress, spec.egress]) {
    for (const rule of Array.isArray(rules) ? rules : []) {
      if (!isObject(rule) || !Array.isArray(rule.ports)) continue;
      for (const port of rule.ports) {
        if (isObject(port) && (port.protocol ?? null) === null) {
          port.protocol = "TCP";
        }
      }
    }
  }
  const types = spec.policyTypes;
  if ((types ?? null) === null || (Array.isArray(types) && !types.length)) {
    spec.policyTypes = Array.isArray(spec.egress) && spec.egress.length
      ? ["Ingress", "Egress"]
      : ["Ingress"];
  }
}

/** 422 Invalid with every problem as a cause, as kube-apiserver answers
 * (its message names the policy without the namespace and brackets a list
 * of several problems). */
function validate(p: KubeObject): void {
  const causes = networkPolicyCauses(p);
  if (causes.length === 0) return;
  const m = p.metadata;
  const { details } = new NetworkPolicyInvalid(
    `${m.namespace ?? ""}/${m.name ?? ""}`,
    causes,
  ).toStatus();
  const each = causes.map((c) => `${c.field}: ${c.message}`).join(", ");
  throw new ApiError(
    422,
    "Invalid",
    `NetworkPolicy.networking.k8s.io "${m.name ?? ""}" is invalid: ${
      causes.length > 1 ? `[${each}]` : each
    }`,
    {
      ...details,
      causes: (details?.causes ?? []).map((c) => ({
        ...c,
        message: c.message ?? "",
      })),
    },
  );
}

export const NETWORK_POLICIES: ResourceDef = {
  group: "networking.k8s.io",
  version: "v1",
  plural: "networkpolicies",
  singular: "networkpolicy",
  kind: "NetworkPolicy",
  namespaced: true,
  shortNames: ["netpol"],
  categories: [],
  prefix: "/registry/networkpolicies/",
  status: false,
  fields: ["metadata.name", "metadata.namespace"],
  nodeAccess: "read",
  schema: { name: NAME, definitions },
  printer,
  prepare(p) {
    setDefaults(p);
    validate(p);
  },
};
