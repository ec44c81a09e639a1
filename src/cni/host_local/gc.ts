// The attachments a GC call keeps: `cni.dev/valid-attachments` (or the
// older `cni.dev/attachments`), each {containerID, ifname}.

import { CniError, ErrorCode, type NetConf } from "../plugin.ts";

export interface Attachment {
  containerID: string;
  ifname: string;
}

export function validAttachments(config: NetConf): Attachment[] {
  const raw = config["cni.dev/valid-attachments"] ??
    config["cni.dev/attachments"] ?? [];
  if (!Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      "cni.dev/valid-attachments must be a list",
    );
  }
  return raw.map((a) => {
    if (typeof a?.containerID !== "string" || typeof a?.ifname !== "string") {
      throw new CniError(
        ErrorCode.InvalidNetworkConfig,
        `invalid attachment ${JSON.stringify(a)}: needs containerID and ifname`,
      );
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
