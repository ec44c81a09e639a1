// Connections the API's front listener hands over raw instead of serving
// them as HTTP: GET requests for one path (the tunnel's websocket), so
// their owner speaks the upgraded protocol on the client's own connection
// (no extra hop, its own limits).

export interface UpgradeRoute {
  /** The request path taken over (a query string may follow). */
  path: string;
  /** Serves the connection; `head` is the request head without its blank
   * line, `rest` the bytes sent behind it. The front closes `conn` after. */
  upgrade(conn: Deno.Conn, head: string, rest: Uint8Array): Promise<void>;
}

/** Whether a request target is the route's path (with or without a query). */
export function upgradeTarget(
  route: UpgradeRoute,
  target: string | undefined,
): boolean {
  if (target === undefined || !target.startsWith(route.path)) return false;
  const next = target.charAt(route.path.length);
  return next === "" || next === "?";
}
