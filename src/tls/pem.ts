// PEM encoding (RFC 7468) of DER blocks.

import { decodeBase64, encodeBase64 } from "../util/encoding.ts";

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

export class PemError extends Error {
  override name = "PemError";
}

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = encodeBase64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}

/** Every PEM block in `text`, in order; throws when there is none. */
export function pemDecode(text: string): PemBlock[] {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const out: PemBlock[] = [];
  for (const m of text.matchAll(re)) {
    const body = m[2].replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
      throw new PemError(`PEM block ${m[1]} holds invalid base64`);
    }
    out.push({ label: m[1], der: decodeBase64(body) });
  }
  if (out.length === 0) throw new PemError("no PEM block found");
  return out;
}

/** The DER of the first block labelled `label`. */
export function pemFirst(text: string, label: string): Uint8Array {
  const block = pemDecode(text).find((b) => b.label === label);
  if (!block) throw new PemError(`no "${label}" PEM block found`);
  return block.der;
}
