// The backends weft has, one row each: the net-conf.json Backend.Type, the
// --flannel-backend value K3s uses for it and the Backend object K3s writes
// for that value. net-conf parsing, the flag table, the demo and the error
// messages derive their lists from here; backend/mod.ts maps each type to
// its constructor (a missing row there does not compile). Names only, no
// backend code: the flag parser loads this without loading the backends.

export interface BackendName {
  /** net-conf.json Backend.Type. */
  type: string;
  /** K3s's --flannel-backend value. */
  flag: string;
  /** The Backend object of the generated net-conf.json. */
  netConf: Record<string, string | number>;
  /** Carries pod traffic between nodes (the demo can check it). */
  overlay: boolean;
}

export const BACKEND_NAMES = [
  { type: "vxlan", flag: "vxlan", netConf: { Type: "vxlan" }, overlay: true },
  {
    type: "host-gw",
    flag: "host-gw",
    netConf: { Type: "host-gw" },
    overlay: true,
  },
  {
    type: "wireguard",
    flag: "wireguard-native",
    netConf: { Type: "wireguard", PersistentKeepaliveInterval: 25 },
    overlay: true,
  },
  { type: "none", flag: "none", netConf: { Type: "none" }, overlay: false },
] as const satisfies readonly BackendName[];

export type BackendType = typeof BACKEND_NAMES[number]["type"];
export type BackendFlag = typeof BACKEND_NAMES[number]["flag"];

/** net-conf.json Backend.Type values, in table order. */
export const BACKEND_TYPES: readonly BackendType[] = BACKEND_NAMES.map((b) =>
  b.type
);
/** --flannel-backend values, in table order. */
export const BACKEND_FLAGS: readonly BackendFlag[] = BACKEND_NAMES.map((b) =>
  b.flag
);

/** "a, b, c or d" (for error messages and help). */
export function orList(names: readonly string[]): string {
  return names.length < 2
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}
