// The running flannel task, after setup: its steps are lease events (the
// node watch), the periodic reconcile, the rules (a cheap check loop and
// nf_tables notifications, both feeding one rules repairer) and the device
// watch (netlink notifications feeding the dataplane repairer). Backend
// steps go through one serial queue (the wireguard backend's steps are
// asynchronous). The steps stop together: when the task is stopped, or
// when one fails for good (a rejected credential), which ends the task
// with that error so that the supervisor restarts it.

import { netEvents, nftEvents } from "../../ffi/mod.ts";
import { SerialQueue } from "../util/serial.ts";
import { FlannelError } from "./errors.ts";
import { credentialRejected, rejectedError } from "./node_source.ts";
import { Repairer } from "./repair.ts";
import type { FlannelOptions } from "./run.ts";
import type { TaskContext } from "../util/task.ts";
import type { FlannelSetup } from "./setup.ts";
import { sleep } from "../util/async.ts";
import type { LeaseEvent } from "./subnet_manager.ts";
import {
  countReconcile,
  countRulesRebuilt,
  exposeLeases,
  type FlannelReport,
  safeReport,
} from "./metrics.ts";

const DEFAULT_RECONCILE_MS = 30_000;

export class FlannelTask {
  readonly #opts: FlannelOptions;
  readonly #ctx: TaskContext;
  readonly #setup: FlannelSetup;
  readonly #log: (msg: string) => void;
  /** Aborted when the task is stopped or a step fails for good. */
  readonly #stop = new AbortController();
  #fatal: unknown;
  readonly #queue = new SerialQueue();
  /** The first node list has been reconciled. */
  #synced = false;
  #readied = false;
  /** nf_tables notifications arrive (the rules check can be rarer). */
  #nftWatching = false;
  readonly #rulesRepair: Repairer;
  readonly #report: FlannelReport;

  constructor(
    opts: FlannelOptions,
    ctx: TaskContext,
    setup: FlannelSetup,
  ) {
    this.#opts = opts;
    this.#ctx = ctx;
    this.#setup = setup;
    this.#log = ctx.log;
    this.#report = safeReport(opts.report);
    this.#rulesRepair = new Repairer({
      what: "the masquerade/forward rules",
      log: ctx.log,
      debounceMs: 50,
      pass: () => this.ensureRules(),
    });
  }

  get #signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Runs every step until the task stops; throws a step's fatal error. */
  async run(): Promise<void> {
    const stopWithTask = () => this.#stop.abort();
    this.#ctx.signal.addEventListener("abort", stopWithTask, { once: true });
    if (this.#ctx.signal.aborted) this.#stop.abort();
    this.#signal.addEventListener("abort", () => this.#rulesRepair.close(), {
      once: true,
    });
    const fail = (e: unknown) => {
      this.#fatal ??= e;
      this.#stop.abort();
    };
    const unexpose = exposeLeases(() => this.#setup.subnets.leases().length);
    try {
      await Promise.all(
        [
          this.#leaseEvents(),
          this.#periodicReconcile(),
          this.#rulesCheckLoop(),
          this.#rulesWatch(),
          this.#deviceWatch(),
        ].map((step) => step.catch(fail)),
      );
    } finally {
      unexpose();
      this.#rulesRepair.close();
      await this.#rulesRepair.idle;
      this.#ctx.signal.removeEventListener("abort", stopWithTask);
    }
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** A full reconcile pass; returns how many entries it wrote or removed. */
  reconcile(why: string): Promise<number> {
    return this.#queue.run(async () => {
      const { backend, subnets } = this.#setup;
      try {
        const report = await backend.reconcile(subnets.leases());
        countReconcile(report);
        if (report.recreated || report.fixed || report.removed) {
          this.#log(
            `reconcile (${why}): ${
              report.recreated ? `recreated ${backend.device}, ` : ""
            }${report.fixed} entries written, ${report.removed} stale removed`,
          );
        }
        return (report.recreated ? 1 : 0) + report.fixed + report.removed;
      } catch (e) {
        this.#log(`reconcile (${why}) failed: ${(e as Error).message}`);
        return 0;
      }
    });
  }

  /** Rebuilds whatever rules differ; returns how many families it fixed. */
  async ensureRules(): Promise<number> {
    let fixed = 0;
    for (const rules of this.#setup.rules) {
      if (this.#signal.aborted) break;
      try {
        if (await rules.ensure()) fixed++;
      } catch (e) {
        this.#log(`checking rules: ${(e as Error).message}`);
      }
    }
    if (fixed) this.#log("masquerade/forward rules were rebuilt");
    countRulesRebuilt(fixed);
    return fixed;
  }

  /** The node watch: the first list is one reconcile (then ready), later
   * events add or remove one lease each. Ends the task if it ends. */
  async #leaseEvents(): Promise<void> {
    const watch = this.#setup.subnets.watch(
      (event) => this.#onLeaseEvent(event),
      this.#signal,
    );
    await watch.done;
    if (!this.#signal.aborted) {
      throw new FlannelError("node watch ended unexpectedly");
    }
  }

  async #onLeaseEvent(event: LeaseEvent): Promise<void> {
    const { backend, subnets } = this.#setup;
    if (event.type === "synced") {
      await this.reconcile("node list");
      this.#synced = true;
      if (!this.#readied) {
        this.#readied = true;
        try {
          await subnets.markNetworkUp();
        } catch (e) {
          this.#log(
            `setting NetworkUnavailable=False: ${(e as Error).message}`,
          );
        }
        this.#log(`flannel is up with ${event.leases.length} remote leases`);
        this.#report({
          reason: "FlannelUp",
          type: "Normal",
          message: `flannel backend ${
            backend.parts.map((b) => b.type).join("+")
          } is up with ${event.leases.length} remote leases`,
        });
        this.#ctx.ready();
      }
      return;
    }
    if (!this.#synced) return; // the reconcile after the list programs these
    const { lease } = event;
    try {
      if (event.type === "added") {
        await this.#queue.run(() => backend.addLease(lease));
        this.#log(`lease added: ${lease.node} ${lease.subnet}`);
      } else {
        await this.#queue.run(() => backend.removeLease(lease));
        this.#log(`lease removed: ${lease.node} ${lease.subnet}`);
      }
    } catch (e) {
      this.#log(`programming lease of ${lease.node}: ${(e as Error).message}`);
    }
  }

  /** The safety net: a full reconcile, the rules, our lease annotations. */
  async #periodicReconcile(): Promise<void> {
    const every = this.#opts.reconcileIntervalMs ?? DEFAULT_RECONCILE_MS;
    const signal = this.#signal;
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) break;
      if (this.#synced) await this.reconcile("periodic");
      await this.ensureRules();
      try {
        if (await this.#setup.subnets.republish(this.#setup.lease)) {
          this.#log(
            "our lease annotations had been changed; published them again",
          );
        }
      } catch (e) {
        if (credentialRejected(e)) throw rejectedError("lease check", e);
        this.#log(`lease check: ${(e as Error).message}`);
      }
    }
  }

  /** The cheap rule check: a difference schedules a rules repair. */
  async #rulesCheckLoop(): Promise<void> {
    const signal = this.#signal;
    while (!signal.aborted) {
      const every = this.#opts.rulesIntervalMs ??
        (this.#nftWatching ? 5_000 : 1_000);
      await sleep(every, signal);
      for (const rules of this.#setup.rules) {
        if (signal.aborted) break;
        try {
          if (!(await rules.check())) this.#rulesRepair.notify("rules check");
        } catch (e) {
          this.#log(`checking rules: ${(e as Error).message}`);
        }
      }
    }
  }

  /** nf_tables notifications (nft, and iptables on its nf_tables backend):
   * any change of the rule set schedules a check of ours. */
  async #rulesWatch(): Promise<void> {
    if (this.#setup.rules.length === 0) return;
    const signal = this.#signal;
    let events;
    try {
      events = nftEvents({ netns: this.#opts.netns });
    } catch (e) {
      this.#log(
        `nf_tables notifications: ${
          (e as Error).message
        }; checking rules every second`,
      );
      return;
    }
    this.#nftWatching = true;
    const close = () => events.close();
    signal.addEventListener("abort", close, { once: true });
    try {
      for await (const event of events) {
        if (signal.aborted) break;
        this.#rulesRepair.notify(
          event.overflow ? "notifications dropped" : "nftables",
        );
      }
    } catch (e) {
      if (!signal.aborted) {
        this.#log(`nf_tables notifications: ${(e as Error).message}`);
      }
    } finally {
      this.#nftWatching = false;
      signal.removeEventListener("abort", close);
      events.close();
    }
  }

  /** Link, neighbour/FDB and route notifications: a change that disagrees
   * with the leases schedules a dataplane repair pass. */
  async #deviceWatch(): Promise<void> {
    const { backend } = this.#setup;
    if (backend.parts.every((b) => b.type === "none")) return;
    const signal = this.#signal;
    const repair = new Repairer({
      what: "the dataplane",
      log: this.#log,
      pass: (why) => this.reconcile(why),
    });
    const events = netEvents({ netns: this.#opts.netns });
    const close = () => {
      events.close();
      repair.close();
    };
    signal.addEventListener("abort", close, { once: true });
    try {
      for await (const event of events) {
        if (signal.aborted) break;
        if (!this.#synced) continue; // the reconcile after the list covers it
        const why = backend.drift(event);
        if (why === null) continue;
        if (event.kind === "link" && event.type === "del") {
          this.#log(`${why}; recreating it`);
        }
        repair.notify(why);
      }
    } catch (e) {
      if (!signal.aborted) {
        this.#log(
          `netlink notifications: ${
            (e as Error).message
          }; relying on periodic reconcile`,
        );
      }
    } finally {
      signal.removeEventListener("abort", close);
      close();
      await repair.idle; // a pass under way finishes before the task ends
    }
  }
}
