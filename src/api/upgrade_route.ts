// Connections the API's front listener hands over raw instead of piping
// them to the internal HTTP server: GET requests for one path (the
// tunnel's websocket), so their owner speaks the upgraded protocol on the
// client's own connection (no extra hop, its own limits).

export interface UpgradeRoute {
  /** The request path taken over (query strings included). */
  path: string;
  /** Serves the connection; `head` is the request head without its blank
   * line, `rest` the bytes sent behind it. The front closes `conn` after. */
  upgrade(conn: Deno.Conn, head: string, rest: Uint8Array): Promise<void>;
}

/** Whether the bytes read so far are (or may still become) a request
 * line for the route's path. */
export function claimsHead(route: UpgradeRoute, b: Uint8Array): boolean {
  const want = new TextEncoder().encode(`GET ${route.path}`);
  const n = Math.min(b.length, want.length);
  for (let i = 0; i < n; i++) if (b[i] !== want[i]) return false;
  if (b.length <= want.length) return true;
  return b[want.length] === 0x20 || b[want.length] === 0x3f; // " " or "?"
}
