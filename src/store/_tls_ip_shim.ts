// grpc-js (under the etcd client) passes the target host as the TLS
// `servername`, also when it is an IP address; Node only warns about that
// (RFC 6066 forbids IPs in SNI), Deno's node:tls refuses it, so
// `https://10.0.0.5:2379` could not be reached. This drops an IP servername
// before node:tls sees it; the certificate is still verified against the
// host (an IP SAN). Installed once, only when an https:// etcd endpoint is
// opened; weft's own TLS uses Deno's APIs and never goes through node:tls.

import { isIP } from "node:net";
import tls from "node:tls";

let installed = false;

export function dropIpServername(): void {
  if (installed) return;
  installed = true;
  const connect = tls.connect;
  const patched = (...args: unknown[]) => {
    const o = args[0];
    if (o && typeof o === "object") {
      const opts = o as { servername?: string };
      if (opts.servername && isIP(opts.servername)) delete opts.servername;
    }
    return (connect as (...a: unknown[]) => tls.TLSSocket)(...args);
  };
  (tls as { connect: unknown }).connect = patched;
}
