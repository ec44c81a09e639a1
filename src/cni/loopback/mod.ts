// The loopback plugin: brings `lo` up in the container's netns (CNI_IFNAME
// is ignored) and reports its loopback addresses.

import { Netlink, NetlinkError } from "../../../ffi/mod.ts";
import { IP } from "../../net/mod.ts";
import {
  CniError,
  CURRENT_VERSION,
  ErrorCode,
  type IPConfig,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";

function netnsExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function openNetns(path: string): Netlink {
  if (!netnsExists(path)) {
    throw new CniError(
      ErrorCode.Internal,
      `failed to open netns "${path}": no such file or directory`,
    );
  }
  try {
    return Netlink.open({ netns: path });
  } catch (err) {
    throw new CniError(
      ErrorCode.Internal,
      `failed to open netns "${path}": ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}

function fail(op: string, err: unknown): CniError {
  const msg = err instanceof NetlinkError
    ? `${err.op}: ${err.code}`
    : (err as Error).message;
  return new CniError(ErrorCode.Internal, `${op}: ${msg}`, undefined, {
    cause: err,
  });
}

async function add(ctx: PluginContext): Promise<Result> {
  await Promise.resolve();
  using nl = openNetns(ctx.netns);
  const ips: IPConfig[] = [];
  try {
    nl.linkSet("lo", { up: true });
    for (const family of [4, 6] as const) {
      const addrs = nl.addrList({ dev: "lo", family });
      for (const a of addrs) {
        const ip = IP.parse(a.cidr.split("/")[0]);
        const loopback = family === 4
          ? (ip.value >> 24n) === 127n
          : ip.value === 1n;
        if (!loopback) {
          throw new CniError(
            ErrorCode.Internal,
            `loopback interface found with non-loopback address "${ip}"`,
          );
        }
      }
      if (addrs.length) ips.push({ interface: 0, address: addrs[0].cidr });
    }
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw fail("failed to set up lo", err);
  }
  if (ctx.config.prevResult) return ctx.config.prevResult;
  const result: Result = {
    cniVersion: CURRENT_VERSION,
    interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: ctx.netns }],
  };
  if (ips.length) result.ips = ips;
  return result;
}

/** lo down; an empty or vanished netns is success. */
async function del(ctx: PluginContext): Promise<void> {
  await Promise.resolve();
  if (!ctx.netns || !netnsExists(ctx.netns)) return;
  using nl = openNetns(ctx.netns);
  try {
    nl.linkSet("lo", { up: false });
  } catch (err) {
    throw fail("failed to set lo down", err);
  }
}

async function check(ctx: PluginContext): Promise<void> {
  await Promise.resolve();
  using nl = openNetns(ctx.netns);
  const lo = nl.linkGet("lo");
  if (!lo || !lo.up) {
    throw new CniError(ErrorCode.Internal, "loopback interface is down");
  }
}

export const plugin: Plugin = { add, del, check };
