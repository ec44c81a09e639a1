// What libcni does for a container runtime: run a config list's plugins for
// one attachment (ADD in order with the result chained, CHECK, DEL in
// reverse with the cached result), GC and STATUS, with libcni's cache.
// weft's own plugin types run in this process; others are exec'd.

import { decodeBase64, encodeBase64 } from "../../util/encoding.ts";
import { delegate, execDelegate } from "../delegate.ts";
import {
  CniError,
  type Command,
  ErrorCode,
  type NetConf,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { validateContainerId, validateIfname } from "../validate.ts";
import { compareVersions, resultFor, upgradeResult } from "../version.ts";
import {
  type CacheEntry,
  DEFAULT_CACHE_DIR,
  listCache,
  readCache,
  removeCache,
  writeCache,
} from "./cache.ts";
import { type ConfList, parseConfList } from "./conflist.ts";

export interface RuntimeConf {
  containerId: string;
  /** Path of the network namespace ("" allowed for DEL). */
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: [string, string][];
  /** Capability arguments (portMappings, bandwidth, ips, mac, ...). */
  capabilityArgs?: Record<string, unknown>;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface RuntimeOptions {
  /** Directories holding plugin binaries of types weft does not have. */
  binDirs?: string[];
  /** Result cache root (default /var/lib/cni). */
  cacheDir?: string;
  /** Environment passed to exec'd plugins (default: this process's). */
  env?: Record<string, string>;
  log?: (msg: string) => void;
  /**
   * false: exec every plugin from binDirs as libcni does, even weft's own
   * types (for comparisons); default true (weft's types run in process).
   */
  inProcess?: boolean;
}

export class CniRuntime {
  readonly binDirs: string[];
  readonly cacheDir: string;
  readonly #env: Record<string, string>;
  readonly #log: (msg: string) => void;
  readonly #run: typeof delegate;

  constructor(opts: RuntimeOptions = {}) {
    this.binDirs = opts.binDirs ?? ["/opt/cni/bin"];
    this.cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
    this.#env = opts.env ?? Deno.env.toObject();
    this.#log = opts.log ?? ((m) => console.error(m));
    this.#run = opts.inProcess === false ? execDelegate : delegate;
  }

  /** Builds one plugin's config as libcni does. */
  pluginConf(
    list: ConfList,
    raw: Record<string, unknown>,
    rt: RuntimeConf,
    prevResult?: Result,
  ): NetConf {
    const conf: NetConf = {
      ...structuredClone(raw),
      name: list.name,
      cniVersion: list.cniVersion,
    } as NetConf;
    delete conf.prevResult;
    if (prevResult) conf.prevResult = prevResult;
    const caps = raw.capabilities;
    const runtimeConfig: Record<string, unknown> = {};
    if (caps && typeof caps === "object") {
      for (const [k, on] of Object.entries(caps)) {
        const v = rt.capabilityArgs?.[k];
        if (on === true && v !== undefined) runtimeConfig[k] = v;
      }
    }
    if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
    else delete conf.runtimeConfig;
    return conf;
  }

  #ctx(command: Command, rt: RuntimeConf, config: NetConf): PluginContext {
    const args: Record<string, string> = {};
    for (const [k, v] of rt.args ?? []) args[k] = v;
    return {
      command,
      containerId: rt.containerId,
      netns: rt.netns,
      ifname: rt.ifname,
      args,
      path: this.binDirs,
      config,
      env: this.#env,
      log: this.#log,
    };
  }

  #validate(rt: RuntimeConf, needNetns: boolean): void {
    validateContainerId(rt.containerId);
    validateIfname(rt.ifname);
    if (needNetns && !rt.netns) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        "required env variables [CNI_NETNS] missing",
      );
    }
  }

  async #call(
    command: Command,
    list: ConfList,
    raw: Record<string, unknown>,
    rt: RuntimeConf,
    prev?: Result,
  ): Promise<Result | undefined> {
    const conf = this.pluginConf(list, raw, rt, prev);
    return await this.#run(
      conf.type,
      command,
      conf,
      this.#ctx(command, rt, conf),
    );
  }

  /** ADD every plugin in order; caches and returns the final result. */
  async add(list: ConfList, rt: RuntimeConf): Promise<Result> {
    this.#validate(rt, true);
    let prev: Result | undefined;
    for (const raw of list.plugins) {
      prev = await this.#call("ADD", list, raw, rt, prev);
    }
    if (!prev) throw new CniError(ErrorCode.Internal, "no result from plugins");
    writeCache(this.cacheDir, this.#entry(list, rt, prev));
    return prev;
  }

  #entry(list: ConfList, rt: RuntimeConf, result: Result): CacheEntry {
    const e: CacheEntry = {
      kind: "cniCacheV1",
      containerId: rt.containerId,
      config: encodeBase64(list.bytes),
      ifName: rt.ifname,
      networkName: list.name,
      result: resultFor(result, list.cniVersion),
    };
    if (rt.netns) e.netns = rt.netns;
    if (rt.args?.length) e.cniArgs = rt.args;
    if (rt.capabilityArgs && Object.keys(rt.capabilityArgs).length) {
      e.capabilityArgs = rt.capabilityArgs;
    }
    return e;
  }

  /** The cached result of an attachment, in the 1.1.0 shape. */
  cachedResult(list: ConfList, rt: RuntimeConf): Result | null {
    const e = readCache(this.cacheDir, list.name, rt.containerId, rt.ifname);
    return e?.result ? upgradeResult(e.result) : null;
  }

  /** CHECK every plugin with the cached result (>= 0.4.0). */
  async check(list: ConfList, rt: RuntimeConf): Promise<void> {
    this.#validate(rt, true);
    if (compareVersions(list.cniVersion, "0.4.0") < 0) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        `configuration version "${list.cniVersion}" does not support the CHECK command`,
      );
    }
    if (list.disableCheck) return;
    const cached = this.cachedResult(list, rt);
    if (!cached) {
      throw new CniError(
        ErrorCode.Internal,
        `no cached result for ${list.name}-${rt.containerId}-${rt.ifname} in ${this.cacheDir}/results`,
      );
    }
    for (const raw of list.plugins) {
      await this.#call("CHECK", list, raw, rt, cached);
    }
  }

  /** DEL every plugin in reverse order, then drops the cache entry. */
  async del(list: ConfList, rt: RuntimeConf): Promise<void> {
    this.#validate(rt, false);
    const cached = compareVersions(list.cniVersion, "0.4.0") >= 0
      ? this.cachedResult(list, rt) ?? undefined
      : undefined;
    // Without capability arguments, DEL gets those ADD had (from the cache):
    // portmap, like the reference, has nothing to remove without mappings.
    if (!rt.capabilityArgs || Object.keys(rt.capabilityArgs).length === 0) {
      const e = readCache(this.cacheDir, list.name, rt.containerId, rt.ifname);
      if (e?.capabilityArgs) rt = { ...rt, capabilityArgs: e.capabilityArgs };
    }
    for (const raw of [...list.plugins].reverse()) {
      await this.#call("DEL", list, raw, rt, cached);
    }
    removeCache(this.cacheDir, list.name, rt.containerId, rt.ifname);
  }

  /**
   * DELs every cached attachment of the network not in `valid`, then (for
   * 1.1.0 and not disableGC) calls GC on each plugin with the valid list.
   */
  async gc(list: ConfList, valid: Attachment[]): Promise<void> {
    const keep = (e: CacheEntry) =>
      valid.some((a) =>
        a.containerID === e.containerId && a.ifname === e.ifName
      );
    const errors: string[] = [];
    for (const e of listCache(this.cacheDir, list.name)) {
      if (keep(e)) continue;
      try {
        const cachedList = parseConfList(
          decodeBase64(e.config, { strict: true }),
          "cache",
        );
        await this.del(cachedList, {
          containerId: e.containerId,
          ifname: e.ifName,
          netns: e.netns ?? "",
          args: e.cniArgs,
          capabilityArgs: e.capabilityArgs,
        });
      } catch (err) {
        errors.push(
          `DEL ${e.containerId}/${e.ifName}: ${(err as Error).message}`,
        );
      }
    }
    if (!list.disableGC && compareVersions(list.cniVersion, "1.1.0") >= 0) {
      const rt: RuntimeConf = { containerId: "", netns: "", ifname: "" };
      for (const raw of list.plugins) {
        const conf = this.pluginConf(list, raw, rt);
        conf["cni.dev/valid-attachments"] = valid;
        conf["cni.dev/attachments"] = valid;
        try {
          await this.#run(conf.type, "GC", conf, this.#ctx("GC", rt, conf));
        } catch (err) {
          errors.push(`GC ${conf.type}: ${(err as Error).message}`);
        }
      }
    }
    if (errors.length) {
      throw new CniError(ErrorCode.Internal, "GC failed", errors.join("; "));
    }
  }

  /** STATUS of every plugin (>= 1.1.0); the first not ready throws. */
  async status(list: ConfList): Promise<void> {
    if (compareVersions(list.cniVersion, "1.1.0") < 0) {
      throw new CniError(
        ErrorCode.IncompatibleVersion,
        `configuration version "${list.cniVersion}" does not support the STATUS command`,
      );
    }
    const rt: RuntimeConf = { containerId: "", netns: "", ifname: "" };
    for (const raw of list.plugins) {
      const conf = this.pluginConf(list, raw, rt);
      await this.#run(conf.type, "STATUS", conf, this.#ctx("STATUS", rt, conf));
    }
  }
}
