export { CIDR, type Family, formatMAC, IP, parseMAC, randomMAC } from "./ip.ts";
