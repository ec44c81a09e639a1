// A small Kubernetes API client (weft's API and a real kube-apiserver),
// kubeconfig loading, the informer, typed objects, and the agent's join.

export {
  KubeClient,
  type KubeClientOptions,
  type ListOptions,
  type ListResult,
  type PatchType,
  type RequestOptions,
  type Selectors,
  type WatchOptions,
} from "./client.ts";
export { errorFromResponse, KubeError } from "./errors.ts";
export {
  type CoreEvent,
  type EventSpec,
  newEvent,
  postEvent,
} from "./events.ts";
export {
  type EventOutcome,
  EventRecorder,
  type EventRecorderOptions,
  type EventSink,
  kubeEventSink,
} from "./event_recorder.ts";
export {
  type Informer,
  type InformerHandlers,
  type InformerOptions,
  keyOf,
} from "./informer.ts";
export {
  fromKubeconfig,
  KubeconfigError,
  kubeconfigOptions,
} from "./kubeconfig.ts";
export {
  DEFAULT_PASSWORD_FILE,
  ensureNodePassword,
  fetchVerifiedCA,
  joinCluster,
  JoinError,
  type JoinOptions,
  type JoinResult,
} from "./join.ts";
export type {
  Container,
  ContainerPort,
  KubeList,
  KubeObject,
  ListMeta,
  Node,
  NodeAddress,
  NodeCondition,
  ObjectEvent,
  ObjectMeta,
  Pod,
  Status,
  Taint,
  WatchEvent,
  WatchEventType,
} from "./types.ts";
export { Balancer, FAILED_REST_MS } from "./balancer.ts";
