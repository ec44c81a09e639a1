// The one error class of the client: an API answer that is not a success,
// carrying the Status fields, or a transport failure (status 0).

import type { Status } from "./types.ts";

export class KubeError extends Error {
  override name = "KubeError";
  constructor(
    /** HTTP status code; 0 when the request did not get an answer. */
    readonly status: number,
    /** The Status reason (NotFound, Conflict, Gone, Expired, ...). */
    readonly reason: string,
    message: string,
    readonly details?: Status["details"],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  static fromStatus(s: Status, httpStatus?: number): KubeError {
    const code = s.code ?? httpStatus ?? 0;
    return new KubeError(
      code,
      s.reason ?? reasonFor(code),
      s.message ?? `the server answered ${code}`,
      s.details,
    );
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }
  get isConflict(): boolean {
    return this.status === 409 && this.reason !== "AlreadyExists";
  }
  get isAlreadyExists(): boolean {
    return this.status === 409 && this.reason === "AlreadyExists";
  }
  /** The resourceVersion is too old: relist (410 Gone / Expired). */
  get isGone(): boolean {
    return this.status === 410;
  }
}

function reasonFor(code: number): string {
  const reasons: Record<number, string> = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
  };
  return reasons[code] ?? "Unknown";
}

/** Turns a non-2xx response into a KubeError (reads the body). */
export async function errorFromResponse(res: Response): Promise<KubeError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body && body.kind === "Status") {
      return KubeError.fromStatus(body as Status, res.status);
    }
  } catch {
    // not JSON: fall through to the plain-text message
  }
  return new KubeError(
    res.status,
    reasonFor(res.status),
    text.trim() || `the server answered ${res.status} ${res.statusText}`,
  );
}
