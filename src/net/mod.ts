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
