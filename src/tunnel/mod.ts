// weft's egress selector tunnel: multiplexed streams over one websocket per
// agent (wire format in frame.ts, flow control in stream.ts, keepalive and
// sync in session.ts), the websocket itself (RFC 6455 framing in
// ws_frame.ts, limited from frame headers; the agent dials it with
// ws_dial.ts over node:tls trusting the cluster CA alone, the server takes
// it over from the API's front listener in ws_accept.ts), the server side
// (websocket endpoint, CONNECT proxy, node proxy), the reconnecting agent
// and its authorizer, and the node endpoint.

export {
  CONNECT_PATH,
  NODE_HEADER,
  type TunnelServer,
  tunnelServer,
  type TunnelServerDeps,
} from "./server.ts";
export {
  runTunnelAgent,
  type TunnelAgentOptions,
  type TunnelState,
  tunnelUrl,
} from "./agent.ts";
export { type NodeEndpointOptions, runNodeEndpoint } from "./node_endpoint.ts";
export { sessionEvents } from "./session_events.ts";
export { writeEgressSelectorConfig } from "./egress_config.ts";
export { type AuthorizerOptions, createAuthorizer } from "./authorizer.ts";
export { type Route, routeFor, type RouteOptions } from "./route.ts";
export { type ClusterView, kubeView, storeView } from "./view.ts";
export {
  checkMode,
  DEFAULT_NODE_ENDPOINT_PORT,
  EGRESS_LABEL,
  EGRESS_MODES,
  type EgressMode,
  parseTarget,
} from "./target.ts";
export {
  type FrameSocket,
  pipeStream,
  Session,
  type SessionOptions,
} from "./session.ts";
export { PAUSE_AT, RESUME_AT, TunnelStream } from "./stream.ts";
export {
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_DATA,
  MAX_FRAME,
} from "./frame.ts";
export {
  FrameError,
  FrameTooBig,
  SessionClosed,
  StreamError,
} from "./errors.ts";
