// The server's own events (IPAM refusals, tunnel sessions) go straight into
// its registry: the same objects and TTL as events posted over the API.

import type { CoreEvent, EventSink } from "../kube/mod.ts";
import type { Store } from "../store/mod.ts";
import type { KubeObject } from "./object.ts";
import { Registry } from "./registry.ts";
import { ApiError } from "./errors.ts";
import { SYSTEM_NAMESPACES } from "./kinds/namespace.ts";
import { EVENTS, NAMESPACES } from "./resources.ts";

export function storeEventSink(store: Store): EventSink {
  const registry = new Registry(store);
  return {
    create: async (ev: CoreEvent) => {
      const obj = ev as unknown as KubeObject;
      try {
        return await registry.create(EVENTS, obj);
      } catch (e) {
        // Before the first API request the system namespaces may not be
        // seeded yet: create the event's one (default) and retry once.
        if (!(e instanceof ApiError && e.code === 404)) throw e;
        const ns = ev.metadata.namespace;
        if (!(SYSTEM_NAMESPACES as readonly string[]).includes(ns)) throw e;
        await registry.create(NAMESPACES, { metadata: { name: ns } }).catch(
          (c) => {
            if (!(c instanceof ApiError && c.code === 409)) throw c;
          },
        );
        return await registry.create(EVENTS, obj);
      }
    },
    bump: (ev: CoreEvent) =>
      registry.update(
        EVENTS,
        ev.metadata.namespace,
        ev.metadata.name,
        (old) => ({ ...old, count: ev.count, lastTimestamp: ev.lastTimestamp }),
      ),
  };
}
