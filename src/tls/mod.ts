// Cluster PKI and join tokens: the CA, serving and client certificates (ECDSA
// P-256, built with WebCrypto and a small DER writer), PEM, token files.

export {
  ensureServerPKI,
  localAddresses,
  type ServerPKI,
  type ServerPKIOptions,
  servingSans,
  tlsDirOf,
} from "./pki.ts";
export {
  caHashOf,
  ensureTokenFile,
  formatToken,
  type ParsedToken,
  parseToken,
  randomSecret,
  TOKEN_PREFIX,
  TokenError,
} from "./token.ts";
export {
  CertificateError,
  type CertInfo,
  certInfo,
  createCA,
  issueCert,
  type IssueOptions,
  type KeyPair,
  type Subject,
} from "./x509.ts";
export { type PemBlock, pemDecode, pemEncode, PemError } from "./pem.ts";
