// OpenAPI v2/v3 documents from the resource table, their routes, and
// server-side field validation against the same schemas.

export { openApiV2, openApiV3, openApiV3Paths } from "./documents.ts";
export { mergeKeysOf } from "./merge_keys.ts";
export { openApiRoutes } from "./routes.ts";
export { unknownFields } from "./validate.ts";
export type { Schema } from "./schema.ts";
