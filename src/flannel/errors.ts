// Typed errors of the flannel task.

/** A net-conf.json problem; `key` names the offending key ("Backend.VNI"). */
export class NetConfError extends Error {
  override name = "NetConfError";
  constructor(readonly key: string, message: string, options?: ErrorOptions) {
    super(`net-conf.json: ${key}: ${message}`, options);
  }
}

/** Anything else that stops the flannel task (it is restarted on throw). */
export class FlannelError extends Error {
  override name = "FlannelError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
