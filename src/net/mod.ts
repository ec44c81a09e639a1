// Network values and seams: IP/CIDR/MAC values, host:port forms, listeners,
// and netfilter (iptables/nftables).

export { CIDR, type Family, formatMAC, IP, parseMAC, randomMAC } from "./ip.ts";
export {
  bracketHost,
  httpsURL,
  joinHostPort,
  unbracketHost,
  unmapV4,
} from "./hostport.ts";
export {
  isWildcard,
  listenEach,
  ListenerGroup,
  listenLoopback,
  listenTcpOn,
  listenTlsOn,
  readBindV6Only,
} from "./listen.ts";
// The netfilter seam (iptables, nftables, backend choice) is part of net's
// surface: import it from here.
export * from "./netfilter/mod.ts";
