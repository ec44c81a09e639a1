// weft's version, shown by `weft version` and in each Node's nodeInfo.
export const VERSION = "0.1.0";
