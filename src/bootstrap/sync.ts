// The bootstrap data every server of one cluster shares - the cluster CA
// (certificate and key), the agent token's secret and the admin token -
// kept in the datastore under /bootstrap/<token hash>, sealed with the
// token. The first server publishes what it created; every later server
// (or restart) writes the datastore's copy over its local files before its
// PKI is loaded, so all serve the same CA and accept the same credentials.

import { join } from "node:path";
import { adminTokenPath } from "../api/auth/mod.ts";
import { AlreadyExists, type Store } from "../store/mod.ts";
import { caHashOf, formatToken, parseToken, tlsDirOf } from "../tls/mod.ts";
import { readTextIfExists, writeFileAtomic } from "../util/fs.ts";
import { bootstrapKey, open, seal, WrongToken } from "./crypto.ts";

export const BOOTSTRAP_PREFIX = "/bootstrap/";

export interface BootstrapData {
  caCert: string;
  caKey: string;
  agentTokenSecret: string;
  adminToken: string;
}

function paths(dataDir: string) {
  const tls = tlsDirOf(dataDir);
  return {
    caCert: join(tls, "server-ca.crt"),
    caKey: join(tls, "server-ca.key"),
    agentToken: join(dataDir, "server", "agent-token"),
    adminToken: adminTokenPath(dataDir),
  };
}

async function writeIfChanged(path: string, text: string, mode: number) {
  if ((await readTextIfExists(path)) === text) return;
  await writeFileAtomic(path, text, { mode });
}

/** Writes the shared data over this server's files. */
export async function writeBootstrapFiles(
  dataDir: string,
  d: BootstrapData,
): Promise<void> {
  const p = paths(dataDir);
  await Deno.mkdir(tlsDirOf(dataDir), { recursive: true, mode: 0o700 });
  await writeIfChanged(p.caKey, d.caKey, 0o600);
  await writeIfChanged(p.caCert, d.caCert, 0o644);
  const agent = formatToken(
    await caHashOf(d.caCert),
    "node",
    d.agentTokenSecret,
  );
  await writeIfChanged(p.agentToken, agent + "\n", 0o600);
  await writeIfChanged(p.adminToken, d.adminToken + "\n", 0o600);
}

/** Reads this server's files (after its PKI and admin token exist). */
export async function readBootstrapFiles(
  dataDir: string,
): Promise<BootstrapData> {
  const p = paths(dataDir);
  const need = async (path: string) => {
    const t = await readTextIfExists(path);
    if (!t?.trim()) throw new Error(`bootstrap file ${path} is missing`);
    return t;
  };
  return {
    caCert: await need(p.caCert),
    caKey: await need(p.caKey),
    agentTokenSecret: parseToken(await need(p.agentToken)).password,
    adminToken: (await need(p.adminToken)).trim(),
  };
}

/** Restores the cluster's bootstrap data into `dataDir`; false when the
 * datastore has none yet (this is the first server). WrongToken when the
 * datastore's data is sealed with another token. */
export async function restoreBootstrap(
  store: Store,
  dataDir: string,
  token: string,
): Promise<boolean> {
  const secret = parseToken(token).password;
  const e = await store.get(await bootstrapKey(secret));
  if (!e) {
    const others = await store.list(BOOTSTRAP_PREFIX);
    if (others.entries.length > 0) {
      throw new WrongToken(
        "the datastore holds bootstrap data for a different token: start this server with the cluster's --token",
      );
    }
    return false;
  }
  const d = JSON.parse(await open(secret, e.value)) as BootstrapData;
  await writeBootstrapFiles(dataDir, d);
  return true;
}

/** Publishes this (first) server's bootstrap data; false when another
 * server published first (its data is then restored into `dataDir`). */
export async function publishBootstrap(
  store: Store,
  dataDir: string,
  token: string,
): Promise<boolean> {
  const secret = parseToken(token).password;
  const d = await readBootstrapFiles(dataDir);
  try {
    await store.create(
      await bootstrapKey(secret),
      await seal(secret, JSON.stringify(d)),
    );
    return true;
  } catch (e) {
    if (!(e instanceof AlreadyExists)) throw e;
    await restoreBootstrap(store, dataDir, token);
    return false;
  }
}
