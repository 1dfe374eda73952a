import { createHash, randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { ErrorCode, GatewayError, isGatewayError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AuditEvent, AuditStore } from '../../stores/audit.store.js';
import type { LinkedIdentitiesStore } from '../../stores/linked-identities.store.js';
import type { OidcFlowsStore } from '../../stores/oidc-flows.store.js';
import type { RateLimitsStore } from '../../stores/rate-limits.store.js';
import { EmailTakenError, NO_PASSWORD_HASH, type UserRecord, type UsersStore } from '../../stores/users.store.js';
import type { AccountService } from '../account-service.js';
import type { Viewer } from '../auth-service.js';
import { coarseAddress, throttleKey } from '../client-address.js';
import { checkEmail } from '../credentials.js';
import { Role } from '../roles.js';
import type { ClientInfo, SessionManager, SignInProof } from '../session-manager.js';
import type { ProviderRegistry } from './provider-registry.js';
import { safeReturnTo } from './return-to.js';
import {
  FLOW_TTL_SECONDS,
  OidcFailure,
  REAUTHENTICATION_WINDOW_SECONDS,
  type CallbackOutcome,
  type SignInMethodView,
  type SignInProviderView,
} from './types.js';

const FEDERATED_PROOF: SignInProof = Object.freeze({ amr: Object.freeze(['fed']) });

export type StartOutcome =
  | { readonly kind: 'redirect'; readonly authorizationUrl: string; readonly flowKey: string; readonly maxAgeSeconds: number }
  | { readonly kind: 'failed'; readonly returnTo: string; readonly code: ErrorCode };

/** Sign-in through OpenID Connect providers, ending in the one session model (SessionManager.start). */
export interface OidcService {
  readonly providers: readonly SignInProviderView[];
  hasProvider(name: string): boolean;
  start(input: { provider: string; returnTo: unknown; link: boolean; viewer: Viewer; client: ClientInfo }): Promise<StartOutcome>;
  /** `callbackUrl`: the request's URL (the redirect URI with the provider's query); `flowKey`: the flow cookie. */
  callback(input: { provider: string; callbackQuery: URLSearchParams; flowKey: string | undefined; client: ClientInfo }): Promise<CallbackOutcome>;
  signInMethods(userId: string): Promise<SignInMethodView[]>;
  /** Removes the provider's identities from the account; never the last way in (LAST_SIGN_IN_METHOD). */
  unlink(input: { userId: string; sessionId: string; provider: string; client: ClientInfo }): Promise<void>;
  stop(): void;
}

export interface OidcServiceDeps {
  readonly registry: ProviderRegistry;
  readonly flows: OidcFlowsStore;
  readonly identities: LinkedIdentitiesStore;
  readonly users: UsersStore;
  readonly sessions: Pick<SessionManager, 'start' | 'find'>;
  readonly accounts: Pick<AccountService, 'vouchFor'>;
  readonly audit: AuditStore;
  readonly rateLimits: RateLimitsStore;
  readonly logger: Logger;
  /** PUBLIC_URL: the redirect URIs are `${publicUrl}/auth/oidc/<name>/callback`. */
  readonly publicUrl: string;
  readonly allowedOrigins: readonly string[];
  readonly signUpEnabled: boolean;
  readonly requireVerifiedEmail: boolean;
  readonly now: () => number;
}

/**
 * Starts and callbacks per address, together: like login's address budget, so a client cannot spin the flow
 * (each start writes a record) or probe callbacks without bound. A person's sign-in costs two.
 */
export const OIDC_LIMITS = Object.freeze({ address: { name: 'oidc-address-15m', points: 100, durationSeconds: 900 } });

const hashFlowKey = (flowKey: string): string => createHash('sha256').update(flowKey).digest('base64url');

export function createOidcService(deps: OidcServiceDeps): OidcService {
  const { registry, flows, identities, users, sessions, audit, logger, now } = deps;
  const ownOrigin = new URL(deps.publicUrl).origin;
  const byAddress = deps.rateLimits.limiter(OIDC_LIMITS.address);
  const redirectUri = (name: string): string => `${deps.publicUrl}/auth/oidc/${name}/callback`;

  async function admit(client: ClientInfo): Promise<void> {
    const key = throttleKey(client.address);
    const result = await byAddress.begin(key);
    if (!result.allowed) throw new OidcFailure(ErrorCode.RATE_LIMITED, 'too many sign-in attempts from this address');
    await byAddress.recordFailure(key);
  }

  async function start(input: { provider: string; returnTo: unknown; link: boolean; viewer: Viewer; client: ClientInfo }): Promise<StartOutcome> {
    const returnTo = safeReturnTo(input.returnTo, ownOrigin, deps.allowedOrigins);
    try {
      await admit(input.client);
      const linkUserId = input.link ? await recentSignIn(input.viewer) : null;
      const configuration = await registry.configuration(input.provider);
      const provider = registry.find(input.provider);
      if (!provider) throw new OidcFailure(ErrorCode.NOT_FOUND, 'unknown provider');
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const authorizationUrl = client.buildAuthorizationUrl(configuration, {
        redirect_uri: redirectUri(provider.name),
        scope: provider.scopes.join(' '),
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const flowKey = randomBytes(32).toString('base64url');
      const at = now();
      await flows.insert({
        id: hashFlowKey(flowKey),
        provider: provider.name,
        state,
        nonce,
        codeVerifier,
        returnTo,
        linkUserId,
        createdAt: new Date(at),
        expiresAt: new Date(at + FLOW_TTL_SECONDS * 1000),
      });
      return { kind: 'redirect', authorizationUrl: authorizationUrl.href, flowKey, maxAgeSeconds: FLOW_TTL_SECONDS };
    } catch (error) {
      return { kind: 'failed', returnTo, code: failureCode(error, input.provider, 'start') };
    }
  }

  /** `?link=1` links to the signed-in account, and only within minutes of a sign-in: a stolen session cannot. */
  async function recentSignIn(viewer: Viewer): Promise<string> {
    if (viewer.kind !== 'user') throw new OidcFailure(ErrorCode.UNAUTHENTICATED, 'linking needs a signed-in session');
    // auth_time: the session's sign-in, or its latest step-up (reauthenticate, verifySecondFactor); carried by the
    // access token, so no database read.
    if (now() - viewer.authTime * 1000 > REAUTHENTICATION_WINDOW_SECONDS * 1000) {
      throw new OidcFailure(ErrorCode.REAUTHENTICATION_REQUIRED, 'the sign-in is older than the window for linking');
    }
    return viewer.userId;
  }

  async function callback(input: { provider: string; callbackQuery: URLSearchParams; flowKey: string | undefined; client: ClientInfo }): Promise<CallbackOutcome> {
    let returnTo = '/';
    try {
      await admit(input.client);
      // The flow cookie binds the callback to the browser that started it: a callback URL made by somebody
      // else (login CSRF: signing a victim into the attacker's account) finds no flow.
      const flow = input.flowKey === undefined ? null : await flows.take(hashFlowKey(input.flowKey), new Date(now()));
      if (!flow) throw new OidcFailure(ErrorCode.OIDC_STATE_INVALID, 'no live flow for this browser');
      returnTo = flow.returnTo;
      // A code from another provider sent to this callback (mix-up), or this provider's answer to another flow.
      if (flow.provider !== input.provider || input.callbackQuery.get('state') !== flow.state) {
        throw new OidcFailure(ErrorCode.OIDC_STATE_INVALID, 'the state or provider does not match the flow');
      }
      const provider = registry.find(flow.provider);
      if (!provider) throw new OidcFailure(ErrorCode.OIDC_STATE_INVALID, 'the provider is no longer configured');
      const configuration = await registry.configuration(provider.name);
      const currentUrl = new URL(redirectUri(provider.name));
      currentUrl.search = input.callbackQuery.toString();
      // openid-client checks the response's iss (RFC 9207) and state, exchanges the code with the PKCE verifier,
      // and validates the ID token: signature, issuer, audience, azp, nonce, expiry, iat.
      const tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (!claims) throw new OidcFailure(ErrorCode.OIDC_PROVIDER_ERROR, 'no ID token');
      let email = claims['email'];
      let emailVerified = claims['email_verified'];
      if (typeof email !== 'string' && configuration.serverMetadata().userinfo_endpoint) {
        // Many providers put the email in userinfo only; fetchUserInfo checks that its sub is the ID token's.
        const info = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
        email = info.email;
        emailVerified = info.email_verified;
      }
      const identity = { issuer: claims.iss, subject: claims.sub, provider: provider.name, email: typeof email === 'string' ? normalised(email) : null, emailVerified: emailVerified === true };
      if (flow.linkUserId !== null) {
        await link(flow.linkUserId, identity, input.client);
        return { kind: 'linked', returnTo };
      }
      const user = await accountFor(identity, provider.trustedEmail, input.client);
      // RFC 8176 `fed`: the person proved who they are to a federated identity provider.
      const session = await sessions.start(user, input.client, FEDERATED_PROOF);
      await record('oidc-sign-in', user.id, session.sessionId, input.client, `signed in through ${provider.name}`);
      logger.info({ provider: provider.name, userId: user.id }, 'signed in through an OIDC provider');
      return { kind: 'signed-in', returnTo, session };
    } catch (error) {
      return { kind: 'failed', returnTo, code: failureCode(error, input.provider, 'callback') };
    }
  }

  interface Identity {
    readonly issuer: string;
    readonly subject: string;
    readonly provider: string;
    readonly email: string | null;
    readonly emailVerified: boolean;
  }

  async function link(userId: string, identity: Identity, clientInfo: ClientInfo): Promise<void> {
    const existing = await identities.find(identity.issuer, identity.subject);
    if (existing) {
      // Already this account's: nothing to do. Another account's: never moved.
      if (existing.userId === userId) return;
      throw new OidcFailure(ErrorCode.OIDC_ACCOUNT_EXISTS, 'the identity is linked to another account');
    }
    const user = await users.findById(userId);
    if (!user || user.disabled) throw new OidcFailure(ErrorCode.ACCOUNT_DISABLED, 'the account is disabled');
    await insertIdentity(user, identity, clientInfo, 'linked from a signed-in session');
  }

  async function insertIdentity(user: UserRecord, identity: Identity, clientInfo: ClientInfo, how: string): Promise<void> {
    const inserted = await identities.insert({
      issuer: identity.issuer,
      subject: identity.subject,
      userId: user.id,
      provider: identity.provider,
      email: identity.email,
      linkedAt: new Date(now()),
    });
    if (inserted === 'taken') throw new OidcFailure(ErrorCode.OIDC_ACCOUNT_EXISTS, 'the identity was linked meanwhile');
    await record('oidc-linked', user.id, null, clientInfo, `${identity.provider} linked, ${how}`);
  }

  /**
   * The account of a provider identity: the one it is linked to; else, for a verified email of an existing
   * account, that account only if the provider is trusted for its mail; else a new account (sign-up).
   */
  async function accountFor(identity: Identity, trustedEmail: boolean, clientInfo: ClientInfo): Promise<UserRecord> {
    const existing = await identities.find(identity.issuer, identity.subject);
    if (existing) {
      const user = await users.findById(existing.userId);
      if (!user || user.disabled) throw new OidcFailure(ErrorCode.ACCOUNT_DISABLED, 'the linked account is disabled or gone');
      return user;
    }
    if (identity.email === null) throw new OidcFailure(ErrorCode.OIDC_EMAIL_UNVERIFIED, 'the provider asserted no email');
    const owner = await users.findByEmail(identity.email);
    if (owner) {
      // Never merged on an email the provider may not own: that is how accounts are taken over.
      if (!trustedEmail) throw new OidcFailure(ErrorCode.OIDC_ACCOUNT_EXISTS, 'an account has this email; the provider is not trusted to link by it');
      if (!identity.emailVerified) throw new OidcFailure(ErrorCode.OIDC_EMAIL_UNVERIFIED, 'an account has this email, which the provider did not verify');
      if (owner.disabled) throw new OidcFailure(ErrorCode.ACCOUNT_DISABLED, 'the account is disabled');
      await insertIdentity(owner, identity, clientInfo, 'by a verified email at a trusted provider');
      return owner;
    }
    if (!deps.signUpEnabled) throw new OidcFailure(ErrorCode.SIGNUP_DISABLED, 'sign-up is disabled');
    if (deps.requireVerifiedEmail && !identity.emailVerified) throw new OidcFailure(ErrorCode.OIDC_EMAIL_UNVERIFIED, 'verified email required');
    let created: UserRecord;
    try {
      created = await users.create({ email: identity.email, passwordHash: NO_PASSWORD_HASH, roles: [Role.USER] });
    } catch (error) {
      if (error instanceof EmailTakenError) throw new OidcFailure(ErrorCode.OIDC_ACCOUNT_EXISTS, 'the email was taken meanwhile');
      throw error;
    }
    // The provider's word for the address counts only when it says it verified it.
    if (identity.emailVerified) await deps.accounts.vouchFor(created);
    await record('oidc-sign-up', created.id, null, clientInfo, `account created through ${identity.provider}`);
    await insertIdentity(created, identity, clientInfo, 'at sign-up');
    return created;
  }

  function normalised(email: string): string | null {
    try {
      return checkEmail(email);
    } catch {
      return null;
    }
  }

  async function record(type: AuditEvent['type'], userId: string, sessionId: string | null, clientInfo: ClientInfo, detail: string): Promise<void> {
    await audit
      .record({ type, userId, sessionId, at: new Date(now()), clientAddress: coarseAddress(clientInfo.address), userAgent: clientInfo.userAgent, detail })
      .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event'));
  }

  /** The public code of a failure, logged with the provider and a reason that carries no code, token or state. */
  function failureCode(error: unknown, provider: string, step: 'start' | 'callback'): ErrorCode {
    let code: ErrorCode;
    let reason: string;
    if (error instanceof OidcFailure) {
      code = error.code;
      reason = error.message;
    } else if (isGatewayError(error)) {
      code = error.code;
      reason = 'gateway error';
    } else if (isUnreachable(error)) {
      code = ErrorCode.OIDC_PROVIDER_UNAVAILABLE;
      reason = 'the provider could not be reached';
    } else if (error instanceof client.AuthorizationResponseError || error instanceof client.ResponseBodyError || error instanceof client.ClientError) {
      code = ErrorCode.OIDC_PROVIDER_ERROR;
      // openid-client's codes name the failed check (OAUTH_JWT_CLAIM_COMPARISON_FAILED, …) and hold no values;
      // a provider's `error` is one of a fixed set (access_denied, invalid_grant, …).
      reason = `${error.name} ${'code' in error ? String(error.code) : ''} ${'error' in error ? String(error.error).slice(0, 64) : ''}`.trim();
    } else {
      code = ErrorCode.INTERNAL_SERVER_ERROR;
      reason = 'unexpected error';
      logger.error({ err: error, provider, step }, 'unexpected error in an OIDC sign-in');
    }
    logger.info({ provider, step, code, reason }, 'OIDC sign-in did not complete');
    return code;
  }

  return {
    providers: registry.providers.map((provider) => ({ name: provider.name, label: provider.label, startUrl: `${deps.publicUrl}/auth/oidc/${provider.name}/start` })),
    hasProvider: (name: string): boolean => registry.find(name) !== undefined,
    start,
    callback,
    async signInMethods(userId: string): Promise<SignInMethodView[]> {
      const [hasPassword, linked] = await Promise.all([users.hasPassword(userId), identities.listForUser(userId)]);
      const methods: SignInMethodView[] = hasPassword ? [{ kind: 'PASSWORD', provider: null, email: null, linkedAt: null }] : [];
      for (const identity of linked) methods.push({ kind: 'OIDC', provider: identity.provider, email: identity.email, linkedAt: identity.linkedAt });
      return methods;
    },
    async unlink(input: { userId: string; sessionId: string; provider: string; client: ClientInfo }): Promise<void> {
      const { userId } = input;
      const remainingBesides = async (): Promise<number> => {
        const [hasPassword, linked] = await Promise.all([users.hasPassword(userId), identities.listForUser(userId)]);
        return (hasPassword ? 1 : 0) + linked.filter((identity) => identity.provider !== input.provider).length;
      };
      const linked = await identities.listForUser(userId);
      if (!linked.some((identity) => identity.provider === input.provider)) {
        throw new GatewayError(ErrorCode.NOT_FOUND, { field: 'provider', detail: 'No such provider is linked to this account.' });
      }
      if ((await remainingBesides()) === 0) throw new GatewayError(ErrorCode.LAST_SIGN_IN_METHOD);
      const removed = await identities.removeForUser(userId, input.provider);
      // Two unlinks at once (of two providers) could each see the other as the way left: look again, and put
      // back what this one removed if nothing is left. No transaction needed, and never zero ways in for long.
      const [hasPassword, after] = await Promise.all([users.hasPassword(userId), identities.listForUser(userId)]);
      if (!hasPassword && after.length === 0) {
        await identities.restore(removed);
        throw new GatewayError(ErrorCode.LAST_SIGN_IN_METHOD);
      }
      await record('oidc-unlinked', userId, input.sessionId, input.client, `${input.provider} unlinked`);
    },
    stop: (): void => registry.stop(),
  };
}

/** The provider did not answer: refused, reset, timed out, or its name did not resolve. */
function isUnreachable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    if (current.name === 'TimeoutError' || current.name === 'AbortError') return true;
    if (current instanceof TypeError && current.message === 'fetch failed') return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|UND_ERR_)/.test(code)) return true;
  }
  return false;
}
