// libnl traffic-control objects (rtnl_qdisc, rtnl_cls, rtnl_act) for
// building tc requests: libnl encodes them (rate tables, u32 selector,
// action nesting) and the message goes out through NlSocket like any other.

import { cstr, type Libs, libs } from "./_lib.ts";
import { MsgBuilder } from "./_wire.ts";
import { unwrap } from "./socket.ts";

type Put = (h: Deno.PointerObject) => void;

/** One libnl object reference; `close()` drops it (idempotent). */
export class TcObject implements Disposable {
  #handle: Deno.PointerObject | null;
  #put: Put;

  constructor(handle: Deno.PointerValue, put: Put, what: string) {
    if (handle === null) {
      throw new RangeError(`libnl could not allocate ${what}`);
    }
    this.#handle = handle;
    this.#put = put;
  }

  /** The C pointer; only for calls inside ffi/. */
  get ptr(): Deno.PointerObject {
    if (this.#handle === null) {
      throw new TypeError("libnl object already released");
    }
    return this.#handle;
  }

  /** Sets the tc kind ("tbf", "u32", "mirred"): required before kind-specific setters. */
  kind(kind: string, op: string): this {
    unwrap(libs().route.rtnl_tc_set_kind(this.ptr, cstr(kind)), op);
    return this;
  }

  close(): void {
    if (this.#handle === null) return;
    this.#put(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export const route = (): Libs["route"] => libs().route;

export function qdisc(): TcObject {
  const r = route();
  return new TcObject(
    r.rtnl_qdisc_alloc(),
    (h) => r.rtnl_qdisc_put(h),
    "a qdisc",
  );
}

export function classifier(): TcObject {
  const r = route();
  return new TcObject(
    r.rtnl_cls_alloc(),
    (h) => r.rtnl_cls_put(h),
    "a classifier",
  );
}

export function action(): TcObject {
  const r = route();
  return new TcObject(
    r.rtnl_act_alloc(),
    (h) => r.rtnl_act_put(h),
    "an action",
  );
}

/**
 * Runs a libnl `*_build_*_request(..., struct nl_msg **result)` and copies
 * the message it built into a MsgBuilder (the nl_msg is freed).
 */
export function built(
  op: string,
  build: (result: Uint8Array) => number,
): MsgBuilder {
  const { nl } = libs();
  const out = new BigUint64Array(1);
  unwrap(build(new Uint8Array(out.buffer)), op);
  const msg = Deno.UnsafePointer.create(out[0]);
  if (msg === null) throw new RangeError(`${op}: libnl built no message`);
  try {
    const hdr = nl.nlmsg_hdr(msg);
    if (hdr === null) {
      throw new RangeError(`${op}: libnl message without header`);
    }
    const len = new Deno.UnsafePointerView(hdr).getUint32(0);
    const bytes = new Uint8Array(len);
    Deno.UnsafePointerView.copyInto(hdr, bytes);
    return MsgBuilder.fromBytes(bytes);
  } finally {
    nl.nlmsg_free(msg);
  }
}
