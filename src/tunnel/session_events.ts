// Tunnel sessions as events on the Node (server side): TunnelConnected and
// TunnelDisconnected (a warning, unless the server itself is stopping).
// Flapping tunnels repeat the same events, which the recorder aggregates.

import type { EventRecorder } from "../kube/mod.ts";

export function sessionEvents(
  events: EventRecorder,
): (node: string, up: boolean, why?: string) => void {
  return (node, up, why) => {
    // uid = the node's name, as the kubelet reports node events: `kubectl
    // describe node` selects them by it.
    const regarding = { kind: "Node", name: node, uid: node };
    if (up) {
      events.record({
        regarding,
        reason: "TunnelConnected",
        message: `Egress tunnel of node ${node} connected`,
      });
      return;
    }
    const stopping = why === "server stopping";
    events.record({
      regarding,
      reason: "TunnelDisconnected",
      type: stopping ? "Normal" : "Warning",
      message: `Egress tunnel of node ${node} disconnected: ${why ?? "closed"}`,
    });
  };
}
