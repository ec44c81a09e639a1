// A flannel task for one node, started in its namespace, for the runFlannel
// tests: it records its log lines, readiness and the error it ended with.

import { type FlannelOptions, runFlannel } from "../../src/flannel/mod.ts";

export class Agent {
  ac = new AbortController();
  logs: string[] = [];
  ready = false;
  done: Promise<void>;
  error: unknown = null;

  constructor(readonly opts: FlannelOptions) {
    this.done = runFlannel(opts, {
      signal: this.ac.signal,
      ready: () => this.ready = true,
      log: (m) => this.logs.push(m),
    }).catch((e) => {
      this.error = e;
    });
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.done;
  }
}
