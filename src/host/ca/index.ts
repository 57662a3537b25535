/**
 * The certificate authority: root CA, node certificate issuance from CSRs, join tokens, renewal schedule, key
 * storage and TLS material. No networking: the transport carries the RPCs and calls into this module.
 */
export {
  RootCertificateAuthority,
  createRootCA,
  rootDigestHex,
  validateNodeCertExpiryMs,
  formatGoDuration,
  roleFromName,
  ROOT_CA_VALIDITY_MS,
  CERT_BACKDATE_MS,
  DEFAULT_NODE_CERT_EXPIRY_MS,
  MIN_NODE_CERT_EXPIRY_MS,
  SERIAL_BYTES,
  MAX_ID_CHARS,
} from './root-ca.js';
export type { RootCAMaterial, IssueOptions, RoleName } from './root-ca.js';
export { bootstrapClusterCA, newRootCARecord, caCertHash } from './bootstrap.js';
export type { BootstrapResult } from './bootstrap.js';
export { generateKeyAndCsr, buildCsr, verifyCsr, MAX_CSR_PEM_BYTES } from './csr.js';
export type { KeyAndCsr, VerifiedCsr } from './csr.js';
export { generateKeyPair } from './keys.js';
export type { KeyAlgorithm, KeyPair } from './keys.js';
export {
  parseJoinToken,
  generateJoinToken,
  generateJoinTokens,
  rotateJoinToken,
  roleForToken,
  checkRootAgainstToken,
  tokenDigestOf,
  JOIN_TOKEN_PREFIX,
  TOKEN_DIGEST_CHARS,
  TOKEN_SECRET_CHARS,
  TOKEN_SECRET_BYTES,
} from './join-token.js';
export type { ParsedJoinToken } from './join-token.js';
export { nextRenewalAt, renewalBackoffMs, RENEW_WINDOW_START, RENEW_WINDOW_END, RENEW_BACKOFF_STEP_MS, RENEW_BACKOFF_MAX_MS } from './renewal.js';
export type { Validity } from './renewal.js';
export { parseNodeIdentity, ouForRole, roleForOu, MANAGER_OU, WORKER_OU, CA_COMMON_NAME } from './node-identity.js';
export type { NodeIdentity } from './node-identity.js';
export {
  KeyStore,
  writeFileAtomic,
  CERTIFICATES_DIR,
  NODE_CERT_FILE,
  NODE_KEY_FILE,
  ROOT_CERT_FILE,
  ROOT_KEY_FILE,
  PRIVATE_FILE_MODE,
  PUBLIC_FILE_MODE,
} from './keystore.js';
export type { NodeTlsMaterial, LoadedNode } from './keystore.js';
export { tlsOptionsFor, tlsServerOptions, tlsClientOptions, MIN_TLS_VERSION } from './tls-material.js';
export type { TlsPems } from './tls-material.js';
export { parseCertificate, verifyCertificateSignature } from './x509.js';
export type { ParsedCertificate, NameAttribute } from './x509.js';
