// Bootstrap data shared by the servers of one cluster through the datastore,
// sealed with the token (K3s's model).

export { bootstrapKey, open, seal, WrongToken } from "./crypto.ts";
export {
  BOOTSTRAP_PREFIX,
  type BootstrapData,
  publishBootstrap,
  readBootstrapFiles,
  restoreBootstrap,
  writeBootstrapFiles,
} from "./sync.ts";
