// The bridge CNI plugin: a Linux bridge on the host, a veth pair per
// container, IPAM by delegation, optional gateway and masquerading.

import type { Plugin, PluginContext } from "../plugin.ts";
import { parseBridgeConf } from "./config.ts";
import { add } from "./add.ts";
import { check, del, gc, status } from "./del.ts";

export { type BridgeConf, parseBridgeConf } from "./config.ts";
export { masqChain, masqComment, NFT_CHAIN, NFT_TABLE } from "./ipmasq.ts";

const conf = (ctx: PluginContext) => parseBridgeConf(ctx.config, ctx.args);

export const plugin: Plugin = {
  add: async (ctx) => await add(ctx, conf(ctx)),
  del: async (ctx) => await del(ctx, conf(ctx)),
  check: async (ctx) => await check(ctx, conf(ctx)),
  gc: async (ctx) => await gc(ctx, conf(ctx)),
  status: async (ctx) => await status(ctx, conf(ctx)),
};
