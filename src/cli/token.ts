// `weft token show` and `weft token forget-node <name>`.

import { parseArgs } from "@std/cli/parse-args";
import { forgetNode, nodeCredentialsIn } from "../api/auth/mod.ts";
import { openStore } from "../store/mod.ts";
import { CommandError, UsageError } from "./errors.ts";
import { joinURLFile } from "./server_url.ts";

/** forget-node on servers sharing an etcd datastore. */
async function forgetInDatastore(
  endpoint: string,
  p: Record<string, string | undefined>,
  name: string,
): Promise<boolean> {
  let store;
  try {
    store = await openStore(endpoint, {
      dataDir: "",
      caFile: p["datastore-cafile"],
      certFile: p["datastore-certfile"],
      keyFile: p["datastore-keyfile"],
    });
  } catch (e) {
    throw new CommandError(`weft token: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await nodeCredentialsIn(store, 0).forget(name);
  } finally {
    store.close();
  }
}

export const TOKEN_HELP = `Usage:
  weft token show [--data-dir D]               print the server and agent join tokens
  weft token forget-node <name> [--data-dir D] forget a node's password and token, so a
                                               machine reusing the name can join
                                               ("kubectl delete node <name>" does it too)

--data-dir defaults to $WEFT_DATA_DIR or /var/lib/weft. Servers on etcd keep
node credentials in etcd: give forget-node the server's --datastore-endpoint
(and --datastore-cafile/-certfile/-keyfile), or $WEFT_DATASTORE_ENDPOINT.`;

/** The join URL the server recorded at its last start (null if none or
 * not an https:// URL, e.g. a hand-edited file). */
async function readJoinURL(dataDir: string): Promise<string | null> {
  const text = await Deno.readTextFile(joinURLFile(dataDir)).catch(() => "");
  const url = text.trim();
  if (url.length > 300 || !/^https:\/\/\S+$/.test(url)) return null;
  try {
    new URL(url);
    return url;
  } catch {
    return null;
  }
}

export async function tokenCommand(args: string[]): Promise<number> {
  let unknown: string | undefined;
  const p = parseArgs(args, {
    string: [
      "data-dir",
      "datastore-endpoint",
      "datastore-cafile",
      "datastore-certfile",
      "datastore-keyfile",
    ],
    boolean: ["help"],
    unknown: (arg: string, key?: string) => {
      if (key !== undefined) unknown ??= arg.split("=")[0];
      return key === undefined;
    },
  }) as { _: unknown[]; help?: boolean } & Record<string, string | undefined>;
  if (unknown) {
    throw new UsageError(
      `weft token: unknown flag ${unknown}; see "weft token --help"`,
    );
  }
  if (p.help) {
    console.log(TOKEN_HELP);
    return 0;
  }
  const dataDir = p["data-dir"] || Deno.env.get("WEFT_DATA_DIR") ||
    "/var/lib/weft";
  const [sub, ...rest] = p._.map(String);
  if (sub === "show" && rest.length === 0) {
    const tokens: string[] = [];
    for (
      const [label, file] of [["server", "token"], ["agent", "agent-token"]]
    ) {
      const path = `${dataDir}/server/${file}`;
      try {
        tokens.push((await Deno.readTextFile(path)).trim());
        console.log(`${label} token: ${tokens.at(-1)}`);
      } catch (e) {
        throw new CommandError(
          `weft token: no ${path}; is this a server with --data-dir ${dataDir} that has started once?`,
          { cause: e },
        );
      }
    }
    const url = await readJoinURL(dataDir);
    if (url) {
      console.log(`join: weft agent --server ${url} --token '${tokens[1]}'`);
    }
    return 0;
  }
  if (sub === "forget-node" && rest.length === 1) {
    const endpoint = p["datastore-endpoint"] ||
      Deno.env.get("WEFT_DATASTORE_ENDPOINT");
    const forgot = endpoint && /^https?:\/\//.test(endpoint)
      ? await forgetInDatastore(endpoint, p, rest[0])
      : await forgetNode(dataDir, rest[0]);
    console.log(
      forgot
        ? `forgot the password and token of node ${rest[0]}; it may join again`
        : `node ${rest[0]} has no stored password; nothing to forget`,
    );
    return 0;
  }
  throw new UsageError(
    `weft token: expected "show" or "forget-node <name>"; see "weft token --help"`,
  );
}
