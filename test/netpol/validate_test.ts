import { assertEquals, assertThrows } from "@std/assert";
import {
  MAX_LIST,
  networkPolicyCauses,
  NetworkPolicyInvalid,
  validateNetworkPolicy,
} from "../../src/netpol/mod.ts";

const ok = {
  metadata: { namespace: "x", name: "p" },
  spec: { podSelector: {} },
};
const withSpec = (spec: Record<string, unknown>) => ({
  ...ok,
  spec: { podSelector: {}, ...spec },
});
const fields = (v: unknown) => networkPolicyCauses(v).map((c) => c.field);

Deno.test("validateNetworkPolicy() accepts what kube-apiserver accepts", () => {
  for (
    const spec of [
      {},
      { policyTypes: ["Ingress", "Egress"] },
      {
        ingress: [{
          from: [
            { podSelector: { matchLabels: { "app.kubernetes.io/name": "x" } } },
            {
              namespaceSelector: {
                matchExpressions: [{ key: "team", operator: "Exists" }],
              },
              podSelector: {
                matchExpressions: [{
                  key: "tier",
                  operator: "NotIn",
                  values: ["db", ""],
                }],
              },
            },
            { ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } },
            { ipBlock: { cidr: "fd00::/8", except: ["fd00::/16"] } },
          ],
          ports: [
            { port: 80 },
            { protocol: "UDP", port: 53 },
            { protocol: "SCTP" },
            { port: "http" },
            { port: 1000, endPort: 2000 },
          ],
        }],
      },
      { egress: [{}], ingress: [] },
    ]
  ) {
    assertEquals(networkPolicyCauses(withSpec(spec)), [], JSON.stringify(spec));
  }
  assertEquals(validateNetworkPolicy(ok), ok);
});

Deno.test("validateNetworkPolicy() refuses bad policies with field paths", () => {
  const cases: [unknown, string[]][] = [
    [{ spec: { podSelector: {} } }, ["metadata.name", "metadata.namespace"]],
    [{
      metadata: { name: "Bad_Name", namespace: "x" },
      spec: { podSelector: {} },
    }, ["metadata.name"]],
    [{ metadata: { name: "p", namespace: "x" } }, ["spec"]],
    [{ metadata: { name: "p", namespace: "x" }, spec: {} }, [
      "spec.podSelector",
    ]],
    [withSpec({ ingress: [{ ports: [{ port: 0 }] }] }), [
      "spec.ingress[0].ports[0].port",
    ]],
    [withSpec({ ingress: [{ ports: [{ port: 70000 }] }] }), [
      "spec.ingress[0].ports[0].port",
    ]],
    [withSpec({ ingress: [{ ports: [{ port: "Not-A-Name" }] }] }), [
      "spec.ingress[0].ports[0].port",
    ]],
    [withSpec({ ingress: [{ ports: [{ port: "a--b" }] }] }), [
      "spec.ingress[0].ports[0].port",
    ]],
    [withSpec({ ingress: [{ ports: [{ port: "123" }] }] }), [
      "spec.ingress[0].ports[0].port",
    ]],
    [withSpec({ ingress: [{ ports: [{ protocol: "ICMP" }] }] }), [
      "spec.ingress[0].ports[0].protocol",
    ]],
    [withSpec({ egress: [{ ports: [{ port: 90, endPort: 80 }] }] }), [
      "spec.egress[0].ports[0].endPort",
    ]],
    [withSpec({ egress: [{ ports: [{ port: "http", endPort: 80 }] }] }), [
      "spec.egress[0].ports[0].endPort",
    ]],
    [withSpec({ egress: [{ ports: [{ endPort: 80 }] }] }), [
      "spec.egress[0].ports[0].endPort",
    ]],
    [withSpec({ ingress: [{ from: [{}] }] }), ["spec.ingress[0].from[0]"]],
    [
      withSpec({
        ingress: [{
          from: [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }],
        }],
      }),
      ["spec.ingress[0].from[0]"],
    ],
    [withSpec({ egress: [{ to: [{ ipBlock: { cidr: "10.0.0.0" } }] }] }), [
      "spec.egress[0].to[0].ipBlock.cidr",
    ]],
    [withSpec({ egress: [{ to: [{ ipBlock: { cidr: "" } }] }] }), [
      "spec.egress[0].to[0].ipBlock.cidr",
    ]],
    [
      withSpec({
        egress: [{
          to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["11.0.0.0/16"] } }],
        }],
      }),
      ["spec.egress[0].to[0].ipBlock.except[0]"],
    ],
    [
      withSpec({
        egress: [{
          to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.0.0.0/8"] } }],
        }],
      }),
      ["spec.egress[0].to[0].ipBlock.except[0]"],
    ],
    [
      withSpec({
        egress: [{
          to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["fd00::/64"] } }],
        }],
      }),
      ["spec.egress[0].to[0].ipBlock.except[0]"],
    ],
    [
      withSpec({
        podSelector: { matchExpressions: [{ key: "a", operator: "In" }] },
      }),
      ["spec.podSelector.matchExpressions[0].values"],
    ],
    [
      withSpec({
        podSelector: {
          matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }],
        },
      }),
      ["spec.podSelector.matchExpressions[0].values"],
    ],
    [
      withSpec({
        podSelector: {
          matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }],
        },
      }),
      ["spec.podSelector.matchExpressions[0].operator"],
    ],
    [withSpec({ podSelector: { matchLabels: { "-bad": "x" } } }), [
      "spec.podSelector.matchLabels",
    ]],
    [withSpec({ podSelector: { matchLabels: { ok: "bad value" } } }), [
      "spec.podSelector.matchLabels",
    ]],
    [withSpec({ policyTypes: ["Ingress", "Ingress"] }), [
      "spec.policyTypes[1]",
    ]],
    [withSpec({ policyTypes: ["Sideways"] }), ["spec.policyTypes[0]"]],
    [withSpec({ policyTypes: ["Ingress", "Egress", "Ingress"] }), [
      "spec.policyTypes",
      "spec.policyTypes[2]",
    ]],
  ];
  for (const [v, want] of cases) {
    assertEquals(fields(v), want, JSON.stringify(v));
  }
});

Deno.test("validateNetworkPolicy() bounds hostile input: huge lists, wrong types, no crash", () => {
  const many = Array.from({ length: MAX_LIST + 1 }, () => ({ port: 80 }));
  assertEquals(fields(withSpec({ ingress: [{ ports: many }] })), [
    "spec.ingress[0].ports",
  ]);
  for (const v of [null, 7, "x", [], { metadata: 5, spec: [] }]) {
    assertEquals(networkPolicyCauses(v).length > 0, true);
  }
  assertEquals(fields(withSpec({ ingress: "all" })), ["spec.ingress"]);
  assertEquals(fields(withSpec({ ingress: [{ from: [7] }] })), [
    "spec.ingress[0].from[0]",
  ]);
  const err = assertThrows(
    () =>
      validateNetworkPolicy(withSpec({ ingress: [{ ports: [{ port: 0 }] }] })),
    NetworkPolicyInvalid,
    'NetworkPolicy.networking.k8s.io "x/p" is invalid: spec.ingress[0].ports[0].port: Invalid value: 0',
  );
  assertEquals(err.causes.length, 1);
  const st = err.toStatus();
  assertEquals([st.code, st.reason, st.details?.kind, st.details?.name], [
    422,
    "Invalid",
    "NetworkPolicy",
    "p",
  ]);
  assertEquals(st.details?.causes, [{
    reason: "FieldValueInvalid",
    message: "Invalid value: 0: must be between 1 and 65535, inclusive",
    field: "spec.ingress[0].ports[0].port",
  }]);
});
