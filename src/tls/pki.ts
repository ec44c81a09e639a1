// The server's PKI under `<data-dir>/server/tls`: the cluster CA (created once,
// then kept) and the serving certificate (re-issued when its SANs change, when
// it nears expiry, or when it was not issued by the current CA), plus the join
// token files that pin the CA.

import { join } from "node:path";
import { IP } from "../net/mod.ts";
import { readTextIfExists, writeFileAtomic } from "../util/fs.ts";
import { caHashOf, ensureTokenFile } from "./token.ts";
import {
  CertificateError,
  certInfo,
  createCA,
  issueCert,
  keyIdOf,
  type KeyPair,
} from "./x509.ts";

const RENEW_BEFORE_MS = 90 * 86_400_000;

export interface ServerPKIOptions {
  dataDir: string;
  /** Extra subject alternative names (`--tls-san`): DNS names or IPs. */
  tlsSans?: string[];
  /** The node's addresses; default: every non-link-local interface address. */
  addresses?: string[];
  /** Default: Deno.hostname(). */
  hostname?: string;
  /** `--token`: the server token's secret (or a full server token). */
  token?: string;
  /** `--agent-token`: the agent token's secret (or a full node token). */
  agentToken?: string;
  log?: (msg: string) => void;
}

export interface ServerPKI {
  tlsDir: string;
  caCertFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  /** SHA-256 hex of server-ca.crt's bytes. */
  caHash: string;
  /** The serving certificate's SANs, normalised and sorted. */
  sans: string[];
  tokenFile: string;
  agentTokenFile: string;
  /** `K10<caHash>::server:<secret>` */
  token: string;
  /** `K10<caHash>::node:<secret>` */
  agentToken: string;
}

export function tlsDirOf(dataDir: string): string {
  return join(dataDir, "server", "tls");
}

/** Addresses of this host worth putting in a certificate. */
export function localAddresses(): string[] {
  return Deno.networkInterfaces()
    .map((i) => i.address.replace(/%.*$/, ""))
    .filter((a) => !/^fe80:/i.test(a) && !a.startsWith("169.254."));
}

/** Normalised, de-duplicated, sorted SAN list (IPs in canonical text). */
export function servingSans(opts: {
  hostname: string;
  addresses: string[];
  tlsSans?: string[];
}): string[] {
  const all = [
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    opts.hostname,
    ...opts.addresses,
    ...(opts.tlsSans ?? []),
  ];
  const out = new Set<string>();
  for (const raw of all) {
    const s = raw.trim();
    if (s === "") continue;
    // "[fd77::1]" as written in a URL is the IPv6 address.
    const ip = IP.tryParse(s.replace(/^\[(.*:.*)\]$/, "$1"));
    if (ip) {
      out.add(ip.toString());
    } else if (/^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(s)) {
      out.add(s.toLowerCase());
    } else {
      throw new CertificateError(
        `${
          JSON.stringify(s)
        } is neither an IP address nor a DNS name; fix --tls-san`,
      );
    }
  }
  return [...out].sort();
}

async function ensureCA(
  certFile: string,
  keyFile: string,
  log: (msg: string) => void,
): Promise<KeyPair> {
  const certPem = await readTextIfExists(certFile);
  const keyPem = await readTextIfExists(keyFile);
  if (certPem && keyPem) return { certPem, keyPem };
  if (certPem || keyPem) {
    const [have, missing] = certPem ? [certFile, keyFile] : [keyFile, certFile];
    throw new CertificateError(
      `${have} exists but ${missing} is missing: restore it from a backup, or remove both to create a new CA (every agent must then rejoin with the new token)`,
    );
  }
  const now = Math.floor(Date.now() / 1000);
  const ca = await createCA(`weft-server-ca@${now}`);
  await writeFileAtomic(keyFile, ca.keyPem, { mode: 0o600 });
  await writeFileAtomic(certFile, ca.certPem, { mode: 0o644 });
  log(`created the cluster CA ${certFile}`);
  return ca;
}

async function servingIsCurrent(
  ca: KeyPair,
  certPem: string | null,
  keyPem: string | null,
  sans: string[],
): Promise<boolean> {
  if (!certPem || !keyPem) return false;
  try {
    const info = certInfo(certPem);
    const have = [...info.sans].sort();
    return have.length === sans.length &&
      have.every((s, i) => s === sans[i]) &&
      info.authorityKeyId === await keyIdOf(ca.keyPem) &&
      info.subjectKeyId === await keyIdOf(keyPem) &&
      info.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/**
 * Creates or loads the cluster CA, (re)issues the serving certificate when
 * needed, and writes the server and agent token files. Idempotent.
 */
export async function ensureServerPKI(
  opts: ServerPKIOptions,
): Promise<ServerPKI> {
  const log = opts.log ?? (() => {});
  const tlsDir = tlsDirOf(opts.dataDir);
  await Deno.mkdir(tlsDir, { recursive: true, mode: 0o700 });
  const caCertFile = join(tlsDir, "server-ca.crt");
  const caKeyFile = join(tlsDir, "server-ca.key");
  const certFile = join(tlsDir, "serving.crt");
  const keyFile = join(tlsDir, "serving.key");
  const ca = await ensureCA(caCertFile, caKeyFile, log);
  const sans = servingSans({
    hostname: opts.hostname ?? Deno.hostname(),
    addresses: opts.addresses ?? localAddresses(),
    tlsSans: opts.tlsSans,
  });
  let certPem = await readTextIfExists(certFile);
  let keyPem = await readTextIfExists(keyFile);
  if (
    !certPem || !keyPem || !await servingIsCurrent(ca, certPem, keyPem, sans)
  ) {
    const leaf = await issueCert(ca, {
      subject: { commonName: "weft", organization: "weft" },
      sans,
      usages: ["serverAuth"],
    });
    await writeFileAtomic(keyFile, leaf.keyPem, { mode: 0o600 });
    await writeFileAtomic(certFile, leaf.certPem, { mode: 0o644 });
    ({ certPem, keyPem } = leaf);
    log(`issued the serving certificate for ${sans.join(", ")}`);
  }
  const caHash = await caHashOf(ca.certPem);
  const serverDir = join(opts.dataDir, "server");
  const tokenFile = join(serverDir, "token");
  const agentTokenFile = join(serverDir, "agent-token");
  const token = await ensureTokenFile(tokenFile, "server", caHash, opts.token);
  const agentToken = await ensureTokenFile(
    agentTokenFile,
    "node",
    caHash,
    opts.agentToken,
  );
  return {
    tlsDir,
    caCertFile,
    caKeyFile,
    certFile,
    keyFile,
    caPem: ca.certPem,
    caKeyPem: ca.keyPem,
    certPem,
    keyPem,
    caHash,
    sans,
    tokenFile,
    agentTokenFile,
    token,
    agentToken,
  };
}
