/**
 * `portcullis/upstream`: what a service behind the gateway needs to trust the identity the gateway forwards.
 * See docs/gateway.md, "Verifying the identity upstream".
 */
export {
  verifyIdentity,
  IDENTITY_TOKEN_TYPE,
  MAX_IDENTITY_TOKEN_SECONDS,
  ASYMMETRIC_ALGORITHMS,
  type Identity,
  type IdentitySource,
  type GatewayKeys,
  type IdentityKey,
  type VerifyIdentityOptions,
} from './verify-identity.js';
export { IdentityError, IdentityErrorCode, isIdentityError } from './identity-error.js';
