// Domain errors of the store; the API maps each to a Kubernetes Status.

export class StoreError extends Error {
  override name = "StoreError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export class NotFound extends StoreError {
  override name = "NotFound";
  constructor(readonly key: string, options?: ErrorOptions) {
    super(`key ${JSON.stringify(key)} not found`, options);
  }
}

export class AlreadyExists extends StoreError {
  override name = "AlreadyExists";
  constructor(readonly key: string, options?: ErrorOptions) {
    super(`key ${JSON.stringify(key)} already exists`, options);
  }
}

export class Conflict extends StoreError {
  override name = "Conflict";
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly actual: number,
    options?: ErrorOptions,
  ) {
    super(
      `key ${
        JSON.stringify(key)
      } was modified: expected revision ${expected}, current ${actual}`,
      options,
    );
  }
}

/** A watch asked for history that has been compacted (HTTP 410). */
export class Gone extends StoreError {
  override name = "Gone";
  constructor(
    readonly requested: number,
    readonly compacted: number,
    message?: string,
  ) {
    super(
      message ??
        `revision ${requested} has been compacted (oldest available: ${compacted}); relist`,
    );
  }
}

/** The store was closed while an operation was pending. */
export class StoreClosed extends StoreError {
  override name = "StoreClosed";
  constructor() {
    super("the store is closed");
  }
}

/** The datastore cannot answer now (etcd without quorum or unreachable):
 * 503, or 504 when the request ran out of time. The caller may retry. */
export class Unavailable extends StoreError {
  override name = "Unavailable";
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
