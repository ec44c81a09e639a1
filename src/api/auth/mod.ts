// Authentication of API callers and the join endpoints.

export {
  ADMIN_GROUP,
  type Identity,
  isAdmin,
  nodeOf,
  NODES_GROUP,
} from "./identity.ts";
export {
  ADMIN_USER,
  adminIdentity,
  adminTokenPath,
  type Authenticate,
  type AuthenticatorOptions,
  createAuthenticator,
  ensureAdminToken,
  nodeIdentity,
} from "./authenticator.ts";
export {
  CredentialRevoked,
  forgetNode,
  keepNodeCredentialsIn,
  NodeCredentials,
  nodeCredentials,
  nodeCredentialsIn,
  NodePasswordRejected,
} from "./credentials.ts";
export {
  type JoinDeps,
  joinRoutes,
  NODE_CREDENTIAL_PATH,
  NODE_NAME_HEADER,
  NODE_PASSWORD_HEADER,
  type NodeCredential,
} from "./join_routes.ts";
export {
  adminKubeconfig,
  type AdminKubeconfigOptions,
  parseFileMode,
  writeAdminKubeconfig,
} from "./kubeconfig.ts";
export {
  ensureMetricsToken,
  isMonitoring,
  METRICS_TOKEN_PREFIX,
  metricsTokenPath,
  MONITORING_GROUP,
  MONITORING_USER,
  monitoringIdentity,
} from "./metrics_token.ts";
export {
  type JanitorOptions,
  NODES_PREFIX,
  runNodeCredentialJanitor,
} from "./janitor.ts";
