// flannel: the overlay as an internal task (net-conf, kube subnet manager,
// backends vxlan / host-gw / wireguard / none, subnet.env, ip-masq, interface choice).

export { type FlannelOptions, runFlannel } from "./run.ts";
export { type FlannelEvent, type FlannelReport } from "./metrics.ts";
export { FlannelError, NetConfError } from "./errors.ts";
export {
  type BackendConf,
  type BackendType,
  generateNetConf,
  loadNetConf,
  type NetConf,
  type NetConfInput,
  netConfPath,
  parseNetConf,
} from "./netconf.ts";
export {
  formatSubnetEnv,
  gatewayForm,
  parseSubnetEnv,
  readSubnetEnv,
  type SubnetEnv,
  writeSubnetEnv,
} from "./subnet_env.ts";
export {
  type AnnotationKeys,
  annotationKeys,
  DEFAULT_ANNOTATION_PREFIX,
  type KubeNode,
  type Lease,
  leaseFromNode,
} from "./lease.ts";
export {
  kubeNodeSource,
  type NodeHandlers,
  type NodeSource,
} from "./node_source.ts";
export { type IfaceInput, selectInterface, type Selection } from "./iface.ts";
