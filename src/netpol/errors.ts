// Typed errors of the network policy controller.

import type { Status } from "../kube/mod.ts";

/** One problem of an object, by field path, as a Status cause carries it. */
export interface FieldCause {
  field: string;
  message: string;
}

const REASONS: [string, string][] = [
  ["Invalid value", "FieldValueInvalid"],
  ["Required value", "FieldValueRequired"],
  ["Unsupported value", "FieldValueNotSupported"],
  ["Duplicate value", "FieldValueDuplicate"],
  ["Forbidden", "FieldValueForbidden"],
  ["Too many", "FieldValueTooMany"],
];

/** The Status cause reason of a message ("Invalid value: ..." -> FieldValueInvalid). */
export function causeReason(message: string): string {
  return REASONS.find(([p]) => message.startsWith(p))?.[1] ??
    "FieldValueInvalid";
}

/** A NetworkPolicy kube-apiserver would refuse (422 Invalid). */
export class NetworkPolicyInvalid extends Error {
  override name = "NetworkPolicyInvalid";
  constructor(readonly policy: string, readonly causes: FieldCause[]) {
    super(
      `NetworkPolicy.networking.k8s.io "${policy}" is invalid: ${
        causes.map((c) => `${c.field}: ${c.message}`).join(", ")
      }`,
    );
  }

  /** The 422 Status kube-apiserver answers with. */
  toStatus(): Status {
    return {
      apiVersion: "v1",
      kind: "Status",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: "Invalid",
      details: {
        name: this.policy.split("/").pop(),
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
        causes: this.causes.map((c) => ({
          reason: causeReason(c.message),
          message: c.message,
          field: c.field,
        })),
      },
      code: 422,
    };
  }
}
