// The one HTTP error class of the API. Every failure leaves as a Kubernetes
// `Status` object (kind Status, apiVersion v1, status Failure) from the app's
// single error handler; store errors map onto their Kubernetes reasons here.

import {
  AlreadyExists,
  Conflict,
  Gone,
  NotFound,
  StoreClosed,
  Unavailable,
} from "../store/mod.ts";

export type StatusReason =
  | "BadRequest"
  | "Unauthorized"
  | "Forbidden"
  | "NotFound"
  | "AlreadyExists"
  | "Conflict"
  | "Gone"
  | "Expired"
  | "Invalid"
  | "MethodNotAllowed"
  | "NotAcceptable"
  | "UnsupportedMediaType"
  | "RequestEntityTooLarge"
  | "ServiceUnavailable"
  | "Timeout"
  | "InternalError";

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message: string; field?: string }[];
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  toStatus(): Status {
    const s: Status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }

  /** The Status as an HTTP response with its code. */
  toResponse(): Response {
    return Response.json(this.toStatus(), { status: this.code });
  }

  static badRequest(message: string): ApiError {
    return new ApiError(400, "BadRequest", message);
  }

  static notFound(resource: string, name: string): ApiError {
    return new ApiError(404, "NotFound", `${resource} "${name}" not found`, {
      name,
      kind: resource,
    });
  }

  /** 409 Conflict: the object changed since the caller read it. */
  static conflict(
    resource: string,
    name: string,
    options?: ErrorOptions,
  ): ApiError {
    return new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, kind: resource },
      options,
    );
  }

  static invalid(kind: string, name: string, field: string, msg: string) {
    return new ApiError(
      422,
      "Invalid",
      `${kind} "${name}" is invalid: ${field}: ${msg}`,
      {
        name,
        kind,
        causes: [{ reason: "FieldValueInvalid", message: msg, field }],
      },
    );
  }
}

/** Maps any thrown value to an ApiError (unknown errors -> 500). */
export function toApiError(
  e: unknown,
  resource = "",
  name = "",
): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof NotFound) return ApiError.notFound(resource, name);
  if (e instanceof AlreadyExists) {
    return new ApiError(
      409,
      "AlreadyExists",
      `${resource} "${name}" already exists`,
      { name, kind: resource },
      { cause: e },
    );
  }
  if (e instanceof Conflict) {
    return ApiError.conflict(resource, name, { cause: e });
  }
  if (e instanceof Gone) {
    return new ApiError(410, "Gone", e.message, undefined, { cause: e });
  }
  if (e instanceof StoreClosed) {
    return new ApiError(503, "ServiceUnavailable", e.message, undefined, {
      cause: e,
    });
  }
  if (e instanceof Unavailable) {
    return e.timedOut
      ? new ApiError(504, "Timeout", e.message, undefined, { cause: e })
      : new ApiError(503, "ServiceUnavailable", e.message, undefined, {
        cause: e,
      });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(500, "InternalError", message, undefined, { cause: e });
}
