// "host:port" text and URLs with IPv6 addresses in brackets (RFC 3986), and
// the IPv4 form of a v4-mapped peer address a dual-stack socket reports.

/** `fd77::1` -> `[fd77::1]`; names and IPv4 addresses unchanged. */
export function bracketHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** `[fd77::1]` -> `fd77::1`; anything else unchanged. */
export function unbracketHost(host: string): string {
  const m = host.match(/^\[(.*)\]$/);
  return m ? m[1] : host;
}

/** "host:port", "[v6]:port" (as Go's net.JoinHostPort). */
export function joinHostPort(host: string, port: number | string): string {
  return `${bracketHost(host)}:${port}`;
}

/** `https://host:port` with an IPv6 host in brackets. */
export function httpsURL(host: string, port: number | string): string {
  return `https://${joinHostPort(host, port)}`;
}

/** `::ffff:10.0.0.1` (an IPv4 peer of a dual-stack socket) -> `10.0.0.1`. */
export function unmapV4(host: string): string {
  const m = host.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i);
  return m ? m[1] : host;
}
