// Network values: IP/CIDR/MAC, host:port forms, listeners, subnet.env.
// The netfilter seam (iptables, nftables, backend choice) has its own
// surface, net/netfilter/mod.ts, and is not re-exported here: a CNI plugin
// answering VERSION loads this module but must not load netfilter
// (test/cni/lean_test.ts).

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
export {
  parseSubnetEnvText,
  SubnetEnvError,
  type SubnetEnvFields,
  type SubnetEnvLine,
} from "./subnet_env.ts";
