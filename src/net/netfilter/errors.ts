// The one error of the netfilter seam: a tool (iptables, ip6tables, nft,
// conntrack) that failed, with its command line, exit code and stderr.

export class NetfilterError extends Error {
  override name = "NetfilterError";
  constructor(
    message: string,
    readonly command: string[] = [],
    readonly code: number = -1,
    readonly stderr: string = "",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
