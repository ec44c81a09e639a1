// NetworkPolicy (networking.k8s.io/v1) enforced with nftables on each node:
// validation, the pure compiler to weft's own table `inet weft-netpol`, the
// diff that updates it incrementally, and the controller that watches
// policies, pods and namespaces, loaded by the agent with the first policy
// (standby.ts).

export {
  causeReason,
  type FieldCause,
  NetworkPolicyInvalid,
} from "./errors.ts";
export {
  MAX_LIST,
  networkPolicyCauses,
  validateNetworkPolicy,
} from "./validate.ts";
export { selectorMatches } from "./selector.ts";
export { compile, CompileCache, type CompileInput } from "./compile.ts";
export {
  diffOps,
  emptyState,
  fullScript,
  type MapDef,
  type NetpolState,
  type SetDef,
  TABLE,
  TABLE_FAMILY,
  TABLE_NAME,
} from "./state.ts";
export { NetpolTable, type SyncResult } from "./table.ts";
export {
  NAMESPACES_PATH,
  type NetpolControllerOptions,
  PODS_PATH,
  POLICIES_PATH,
  removeNetworkPolicyTable,
  runNetpolController,
  type SyncReport,
} from "./controller.ts";
export { type StandbyOptions, untilFirstPolicy } from "./standby.ts";
export { namespaceView, podView, slimNamespace, slimPod } from "./views.ts";
export {
  type IPBlock,
  type LabelSelector,
  type LabelSelectorRequirement,
  type NamedPort,
  type Namespace,
  NAMESPACE_NAME_LABEL,
  type NamespaceView,
  type NetworkPolicy,
  type NetworkPolicyEgressRule,
  type NetworkPolicyIngressRule,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type NetworkPolicySpec,
  type PodView,
  type PolicyType,
  policyTypesOf,
  type Protocol,
} from "./types.ts";
