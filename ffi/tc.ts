// Traffic control for the bandwidth plugin: a root tbf qdisc, the ingress
// qdisc, and a match-all u32 filter whose mirred action redirects ingress
// traffic to another device (an ifb). Requests are built with libnl's tc
// objects; qdisc dumps are decoded here.

import {
  action,
  built,
  classifier,
  qdisc,
  route,
  type TcObject,
} from "./_tcobj.ts";
import { unwrap } from "./socket.ts";
import { attrs, type Msg, MsgBuilder, put32, strOf } from "./_wire.ts";

export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;

const TCA_KIND = 1;

export const TC_H_ROOT = 0xffffffff;
export const TC_H_INGRESS = 0xfffffff1;
const INGRESS_HANDLE = 0xffff0000;
const TCA_EGRESS_REDIR = 1;
const TC_ACT_STOLEN = 4;
const ETH_P_ALL = 0x0003;

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

const INT_MAX = 0x7fffffff;

/** RTM_NEWQDISC: root tbf, handle 1:, built by libnl (rtnl_qdisc_tbf_*). */
export function tbfMsg(
  flags: number,
  index: number,
  o: TbfOptions,
): MsgBuilder {
  const op = `qdisc tbf dev ${index}`;
  if (!(o.rate > 0) || !(o.burst > 0)) {
    throw new RangeError(
      `tbf needs a positive rate and burst (got rate ${o.rate} bit/s, burst ${o.burst} bytes)`,
    );
  }
  const rateBps = Math.floor(o.rate / 8);
  const latencyUs = (o.latencyMs ?? DEFAULT_LATENCY_MS) * 1000;
  const ints = {
    rate: rateBps,
    burst: o.burst,
    limit: o.limit ?? 0,
    latency: latencyUs,
  };
  for (const [what, v] of Object.entries(ints)) {
    if (v > INT_MAX) {
      throw new RangeError(
        `tbf ${what} ${v} is above what libnl takes (${INT_MAX}; rate in bytes/s, i.e. about 17 Gbit/s)`,
      );
    }
  }
  const r = route();
  using q = qdisc().kind("tbf", op);
  r.rtnl_tc_set_ifindex(q.ptr, index);
  r.rtnl_tc_set_parent(q.ptr, TC_H_ROOT);
  r.rtnl_tc_set_handle(q.ptr, 0x10000);
  r.rtnl_qdisc_tbf_set_rate(q.ptr, rateBps, Math.floor(o.burst), 0);
  if (o.limit !== undefined) {
    r.rtnl_qdisc_tbf_set_limit(q.ptr, Math.floor(o.limit));
  } else {
    const us = Math.floor(latencyUs);
    unwrap(r.rtnl_qdisc_tbf_set_limit_by_latency(q.ptr, us), op);
  }
  return built(op, (out) => r.rtnl_qdisc_build_add_request(q.ptr, flags, out));
}

function ingressQdisc(index: number, op: string): TcObject {
  const r = route();
  const q = qdisc().kind("ingress", op);
  r.rtnl_tc_set_ifindex(q.ptr, index);
  r.rtnl_tc_set_parent(q.ptr, TC_H_INGRESS);
  r.rtnl_tc_set_handle(q.ptr, INGRESS_HANDLE);
  return q;
}

/** RTM_NEWQDISC: the ingress qdisc (ffff:). */
export function ingressMsg(flags: number, index: number): MsgBuilder {
  const op = `qdisc ingress dev ${index}`;
  using q = ingressQdisc(index, op);
  return built(
    op,
    (out) => route().rtnl_qdisc_build_add_request(q.ptr, flags, out),
  );
}

/** RTM_DELQDISC for the root or ingress qdisc. */
export function delQdiscMsg(
  index: number,
  kind: "root" | "ingress",
): MsgBuilder {
  const op = `qdisc del dev ${index} ${kind}`;
  const r = route();
  using q = kind === "ingress" ? ingressQdisc(index, op) : qdisc();
  if (kind === "root") {
    r.rtnl_tc_set_ifindex(q.ptr, index);
    r.rtnl_tc_set_parent(q.ptr, TC_H_ROOT);
  }
  return built(op, (out) => r.rtnl_qdisc_build_delete_request(q.ptr, out));
}

/**
 * RTM_NEWTFILTER: u32 filter on the ingress qdisc matching every packet
 * (one zero key, terminal), action mirred egress redirect to `to`.
 */
export function redirectMsg(
  flags: number,
  index: number,
  to: number,
): MsgBuilder {
  const op = `filter u32 dev ${index} mirred to ${to}`;
  const r = route();
  using act = action().kind("mirred", op);
  unwrap(r.rtnl_mirred_set_action(act.ptr, TCA_EGRESS_REDIR), op);
  unwrap(r.rtnl_mirred_set_policy(act.ptr, TC_ACT_STOLEN), op);
  unwrap(r.rtnl_mirred_set_ifindex(act.ptr, to), op);
  using cls = classifier().kind("u32", op);
  r.rtnl_tc_set_ifindex(cls.ptr, index);
  r.rtnl_tc_set_parent(cls.ptr, INGRESS_HANDLE);
  r.rtnl_cls_set_prio(cls.ptr, 1);
  r.rtnl_cls_set_protocol(cls.ptr, ETH_P_ALL);
  unwrap(r.rtnl_u32_set_cls_terminal(cls.ptr), op);
  unwrap(r.rtnl_u32_add_key_uint32(cls.ptr, 0, 0, 0, 0), op);
  unwrap(r.rtnl_u32_add_action(cls.ptr, act.ptr), op);
  return built(op, (out) => r.rtnl_cls_build_add_request(cls.ptr, flags, out));
}

export function dumpQdiscMsg(flags: number): MsgBuilder {
  return new MsgBuilder(RTM_GETQDISC, flags).raw(tcmsg(0, 0, 0));
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
