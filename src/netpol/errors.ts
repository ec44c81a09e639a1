// Typed errors of the network policy controller.

/** One problem of an object, by field path, as a Status cause carries it. */
export interface FieldCause {
  field: string;
  message: string;
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
}
