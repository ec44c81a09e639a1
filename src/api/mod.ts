// The Kubernetes-compatible API: the hono app factory, node IPAM, the TLS
// server with its CONNECT front listener, and the Status error type.

export { type ApiDeps, createApp } from "./app.ts";
export { ApiError, type Status, type StatusReason } from "./errors.ts";
export {
  createNodeIpam,
  IpamExhausted,
  type IpamOptions,
  NodeIpam,
  podCidrsOf,
} from "./ipam.ts";
export type { Json, JsonObject, KubeObject, ObjectMeta } from "./object.ts";
export { KUBE_VERSION } from "./discovery.ts";
export {
  type ApiServer,
  ApiServerError,
  type ApiServerOptions,
  BadRequestHead,
  type ConnectHandler,
  type ConnectHead,
  startApiServer,
} from "./server.ts";
export type { UpgradeRoute } from "./upgrade_route.ts";
export { storeEventSink } from "./event_sink.ts";
export { SERVER_COMPONENT } from "./node_events.ts";
