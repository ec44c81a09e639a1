// The API port's front listener: first-head routing (CONNECT), piping to the
// internal HTTP server, and the limits that keep clients from exhausting
// the process (head and idle timeouts, descriptor budget, HTTP/1.1 only).

export {
  DEFAULT_LIMITS,
  type Front,
  type FrontLimits,
  type FrontOptions,
  type RawHandler,
  startFront,
} from "./front.ts";
export { withPrefix } from "./_io.ts";
export { field, FramingError, type MessageHead } from "./http1.ts";
