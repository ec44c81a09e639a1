// The loopback plugin: brings `lo` up in the container's netns (CNI_IFNAME
// is ignored) and reports its loopback addresses.

import { IP } from "../../net/mod.ts";
import { cniFail, netnsExists, openNetns } from "../netns.ts";
import {
  CniError,
  CURRENT_VERSION,
  ErrorCode,
  type IPConfig,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";

/** The reference reports an unopenable netns as an internal error. */
const open = (netns: string) => openNetns(netns, ErrorCode.Internal);

async function add(ctx: PluginContext): Promise<Result> {
  await Promise.resolve();
  using nl = open(ctx.netns);
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
    throw cniFail("failed to set up lo", err);
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
  using nl = open(ctx.netns);
  try {
    nl.linkSet("lo", { up: false });
  } catch (err) {
    throw cniFail("failed to set lo down", err);
  }
}

async function check(ctx: PluginContext): Promise<void> {
  await Promise.resolve();
  using nl = open(ctx.netns);
  const lo = nl.linkGet("lo");
  if (!lo || !lo.up) {
    throw new CniError(ErrorCode.Internal, "loopback interface is down");
  }
}

export const plugin: Plugin = { add, del, check };
