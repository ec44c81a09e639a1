// networking.k8s.io/v1 NetworkPolicy and the views of Pods and Namespaces
// the compiler works from.

import type { KubeObject } from "../kube/mod.ts";

export type Protocol = "TCP" | "UDP" | "SCTP";
export type PolicyType = "Ingress" | "Egress";

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: Protocol;
  /** A number, or the name of a container port of the pod. */
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  ingress?: NetworkPolicyIngressRule[];
  egress?: NetworkPolicyEgressRule[];
  policyTypes?: PolicyType[];
}

export interface NetworkPolicy extends KubeObject {
  spec: NetworkPolicySpec;
}

export interface Namespace extends KubeObject {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

/** A container port a pod declares, for named ports. */
export interface NamedPort {
  name: string;
  port: number;
  protocol: Protocol;
}

/** What the compiler needs of a Pod. */
export interface PodView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** IPv4 and IPv6 addresses (status.podIPs). */
  ips: string[];
  nodeName: string;
  ports: NamedPort[];
}

/** What the compiler needs of a Namespace. */
export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
}

/** The label every namespace carries (as Kubernetes sets it). */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The policy types in force: policyTypes, or Kubernetes' defaulting. */
export function policyTypesOf(spec: NetworkPolicySpec): PolicyType[] {
  if (spec.policyTypes && spec.policyTypes.length > 0) return spec.policyTypes;
  return (spec.egress?.length ?? 0) > 0 ? ["Ingress", "Egress"] : ["Ingress"];
}
