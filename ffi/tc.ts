// Traffic control messages for the bandwidth plugin: a root tbf qdisc, the
// ingress qdisc, and a match-all u32 filter whose mirred action redirects
// ingress traffic to another device (an ifb).

import { libs } from "./_lib.ts";
import { attrs, type Msg, MsgBuilder, put32, strOf } from "./_wire.ts";

export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;

const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_TBF_PARMS = 1;
const TCA_TBF_RATE64 = 4;
const TCA_TBF_BURST = 6;
const TCA_U32_SEL = 5;
const TCA_U32_ACT = 7;
const TCA_ACT_KIND = 1;
const TCA_ACT_OPTIONS = 2;
const TCA_MIRRED_PARMS = 2;

export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
const INGRESS_HANDLE = 0xffff0000;
const TC_LINKLAYER_ETHERNET = 1;
const TC_U32_TERMINAL = 1;
const TCA_EGRESS_REDIR = 1;
const TC_ACT_STOLEN = 4;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL)

/** Latency the bandwidth plugin sizes the tbf queue for (as the reference does). */
export const DEFAULT_LATENCY_MS = 25;

/** struct tcmsg */
function tcmsg(
  index: number,
  handle: number,
  parent: number,
  info = 0,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(20);
  put32(b, 4, index);
  put32(b, 8, handle);
  put32(b, 12, parent);
  put32(b, 16, info);
  return b;
}

export interface TbfOptions {
  /** bits per second */
  rate: number;
  /** bytes */
  burst: number;
  latencyMs?: number;
  /** queue limit in bytes; from latency when absent */
  limit?: number;
}

/** Transmission time of `burst` bytes at `rateBps` in psched ticks (libnl's arithmetic). */
function bufferTicks(burst: number, rateBps: number): number {
  const { route, nl } = libs();
  const us = rateBps <= 0x7fffffff
    ? route.rtnl_tc_calc_txtime(burst, rateBps)
    : Math.floor((burst / rateBps) * 1e6);
  return nl.nl_us2ticks(Math.min(us, 0xffffffff));
}

/** RTM_NEWQDISC: root tbf, handle 1:, created or replaced. */
export function tbfMsg(
  flags: number,
  index: number,
  o: TbfOptions,
): MsgBuilder {
  if (!(o.rate > 0) || !(o.burst > 0)) {
    throw new RangeError(
      `tbf needs a positive rate and burst (got rate ${o.rate} bit/s, burst ${o.burst} bytes)`,
    );
  }
  const rateBps = Math.floor(o.rate / 8);
  const latency = o.latencyMs ?? DEFAULT_LATENCY_MS;
  const limit = o.limit ?? Math.floor((rateBps * latency) / 1000) + o.burst;
  const qopt = new Uint8Array(36);
  const v = new DataView(qopt.buffer);
  v.setUint8(1, TC_LINKLAYER_ETHERNET);
  v.setUint32(8, Math.min(rateBps, 0xffffffff), true);
  v.setUint32(24, Math.min(limit, 0xffffffff), true);
  v.setUint32(28, bufferTicks(o.burst, rateBps), true);
  const b = new MsgBuilder(RTM_NEWQDISC, flags).raw(
    tcmsg(index, 0x10000, TC_H_ROOT),
  );
  b.str(TCA_KIND, "tbf").nest(TCA_OPTIONS).attr(TCA_TBF_PARMS, qopt);
  if (rateBps > 0xffffffff) {
    const r = new Uint8Array(8);
    new DataView(r.buffer).setBigUint64(0, BigInt(rateBps), true);
    b.attr(TCA_TBF_RATE64, r);
  }
  return b.u32(TCA_TBF_BURST, o.burst).end();
}

export function ingressMsg(flags: number, index: number): MsgBuilder {
  return new MsgBuilder(RTM_NEWQDISC, flags).raw(
    tcmsg(index, INGRESS_HANDLE, TC_H_INGRESS),
  ).str(TCA_KIND, "ingress");
}

export function delQdiscMsg(
  index: number,
  kind: "root" | "ingress",
): MsgBuilder {
  const [handle, parent] = kind === "root"
    ? [0, TC_H_ROOT]
    : [INGRESS_HANDLE, TC_H_INGRESS];
  return new MsgBuilder(RTM_DELQDISC, 0).raw(tcmsg(index, handle, parent));
}

export function dumpQdiscMsg(flags: number): MsgBuilder {
  return new MsgBuilder(RTM_GETQDISC, flags).raw(tcmsg(0, 0, 0));
}

/** RTM_NEWTFILTER: u32 match-all on ingress, action mirred egress redirect to `to`. */
export function redirectMsg(
  flags: number,
  index: number,
  to: number,
): MsgBuilder {
  const sel = new Uint8Array(16 + 16); // tc_u32_sel + one zero tc_u32_key (mask 0: matches all)
  sel[0] = TC_U32_TERMINAL;
  sel[2] = 1; // nkeys
  const mirred = new Uint8Array(28); // struct tc_mirred
  const m = new DataView(mirred.buffer);
  m.setInt32(8, TC_ACT_STOLEN, true);
  m.setInt32(20, TCA_EGRESS_REDIR, true);
  m.setUint32(24, to, true);
  return new MsgBuilder(RTM_NEWTFILTER, flags)
    .raw(tcmsg(index, 0, INGRESS_HANDLE, (1 << 16) | ETH_P_ALL_BE))
    .str(TCA_KIND, "u32")
    .nest(TCA_OPTIONS)
    .attr(TCA_U32_SEL, sel)
    .nest(TCA_U32_ACT)
    .nest(1)
    .str(TCA_ACT_KIND, "mirred")
    .nest(TCA_ACT_OPTIONS)
    .attr(TCA_MIRRED_PARMS, mirred)
    .end()
    .end()
    .end()
    .end();
}

function handleStr(h: number): string {
  const maj = (h >>> 16).toString(16);
  const min = h & 0xffff;
  return min === 0 ? `${maj}:` : `${maj}:${min.toString(16)}`;
}

export function decodeQdisc(m: Msg, names: Map<number, string>) {
  const d = m.data;
  const index = d.getInt32(4, true);
  const handle = d.getUint32(8, true);
  const parent = d.getUint32(12, true);
  const a = attrs(d, 20);
  return {
    index,
    dev: names.get(index) ?? "",
    kind: a.get(TCA_KIND) ? strOf(a.get(TCA_KIND)!) : "",
    parent: parent === TC_H_ROOT
      ? "root"
      : `${(parent >>> 16).toString(16)}:${(parent & 0xffff).toString(16)}`,
    handle: handleStr(handle),
  };
}
