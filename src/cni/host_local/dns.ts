// resolv.conf -> the result's dns section (nameserver, domain, search,
// options), as the reference's host-local reads `resolvConf`.

import { ioFailure } from "../files.ts";
import type { DNS } from "../plugin.ts";

export function parseResolvConf(path: string): DNS {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw ioFailure(`cannot read resolvConf ${path}`, err);
  }
  const dns: DNS = {};
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...rest] = line.split(/\s+/);
    if (!key || rest.length === 0) continue;
    if (key === "nameserver") (dns.nameservers ??= []).push(rest[0]);
    else if (key === "domain") dns.domain = rest[0];
    else if (key === "search") (dns.search ??= []).push(...rest);
    else if (key === "options") (dns.options ??= []).push(...rest);
  }
  return dns;
}
