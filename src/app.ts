import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { createAccountService, type AccountService } from './auth/account-service.js';
import { createAuthService, type AuthService } from './auth/auth-service.js';
import { createKeyManager, type KeyManager } from './auth/key-manager.js';
import { createLoginThrottle } from './auth/login-throttle.js';
import { createMailThrottle } from './auth/mail-throttle.js';
import { createPasswordHasher, type PasswordHasher } from './auth/password.js';
import { createRevocationView, type RevocationView } from './auth/revocation-view.js';
import { createSessionManager } from './auth/session-manager.js';
import { createOidcService, type OidcService } from './auth/oidc/oidc-service.js';
import { createProviderRegistry } from './auth/oidc/provider-registry.js';
import type { Config } from './config/config.js';
import { authEndpointPlugin } from './graphql/auth-endpoint.plugin.js';
import { createContextFactory, type GatewayContext } from './graphql/context.js';
import { createFormatError } from './graphql/format-error.js';
import { graphqlLimits } from './graphql/limits.js';
import { unavailablePlugin } from './graphql/unavailable.plugin.js';
import { oneAuthMutationPerOperation } from './graphql/one-auth-mutation.rule.js';
import { buildGatewaySchema } from './graphql/schema.js';
import { createMetrics } from './http/metrics.js';
import { createHttpApp } from './http/server.js';
import type { Logger } from './logger.js';
import { createMailer } from './mail/mailer.js';
import { createAccountTokensStore } from './stores/account-tokens.store.js';
import { createEmailVerificationsStore } from './stores/email-verifications.store.js';
import { connectDatabase, type Database } from './stores/mongo.js';
import { createAuditStore } from './stores/audit.store.js';
import { createRateLimitsStore } from './stores/rate-limits.store.js';
import { createSigningKeysStore } from './stores/signing-keys.store.js';
import { createRefreshTokensStore } from './stores/refresh-tokens.store.js';
import { createRevocationsStore } from './stores/revocations.store.js';
import { createSessionsStore } from './stores/sessions.store.js';
import { createSessionStepUpsStore } from './stores/session-step-ups.store.js';
import { createSecondFactorStore } from './stores/second-factor.store.js';
import { createMfaChallengesStore } from './stores/mfa-challenges.store.js';
import { createSecondFactor } from './auth/second-factor/second-factor.js';
import { createSecondFactorKeys } from './tokens/second-factor-keys.js';
import { randomId } from './tokens/ids.js';
import { createPasskeys } from './auth/passkeys/passkeys.js';
import { createPasskeysStore } from './stores/passkeys.store.js';
import { createWebAuthnChallengesStore } from './stores/webauthn-challenges.store.js';
import { createSessionListsStore } from './stores/session-lists.store.js';
import { createUsersStore } from './stores/users.store.js';
import { createLinkedIdentitiesStore } from './stores/linked-identities.store.js';
import { createOidcFlowsStore } from './stores/oidc-flows.store.js';
import { createAccessTokens, type AccessTokens } from './tokens/access-token.js';
import { createAccountTokenKeys } from './tokens/account-token.js';
import { createKeyEncryption } from './tokens/key-encryption.js';
import { createHmacKeyRing, type KeyRing } from './tokens/keys.js';
import { createRefreshTokenKeys } from './tokens/refresh-token.js';
import { createIdentityTokens } from './tokens/identity-token.js';
import { upstreamGateway } from './graphql/upstream-gateway.js';
import { createGatewayExecution } from './upstreams/execute.js';
import { createIdentityCache } from './upstreams/identity-cache.js';
import { createPassThrough } from './upstreams/pass-through.js';
import { createUpstreamRegistry, type UpstreamRegistry } from './upstreams/registry.js';
import { createLive, type Live } from './live/index.js';

export interface AppOptions {
  /** Milliseconds since the epoch. Tests inject a clock instead of sleeping. */
  readonly now?: () => number;
  /** Tests may count calls; production uses argon2id with the OWASP parameters. */
  readonly passwords?: PasswordHasher;
  /** Tests compare the pass-through with the general path: this turns the pass-through off. */
  readonly generalPathOnly?: true;
}

export interface App {
  /** Not listening yet: main.ts (or a test) calls listen. */
  readonly httpServer: Server;
  readonly auth: AuthService;
  readonly database: Database;
  readonly view: RevocationView;
  /** With an asymmetric JWT_ALGORITHM: the stored signing keys and their rotation. */
  readonly keyManager: KeyManager | undefined;
  /** Password reset and email verification; `drain()` waits for mail still being sent. */
  readonly accounts: AccountService;
  /** Subscriptions over WebSocket and SSE (src/live/). */
  readonly live: Live;
  stop(): Promise<void>;
}

/** Node's default is 16 KiB; a cookie jar plus a Bearer token fits in a quarter of that. */
const MAX_HEADER_BYTES = 8 * 1024;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** How often Node enforces the two timeouts above; its default (30 s) would let a slow client linger 40 s. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** Polling period of the revocation view: revocations reach every instance within about this, plus a query. */
const REVOCATION_POLL_MS = 250;

export interface Services {
  readonly auth: AuthService;
  readonly database: Database;
  readonly view: RevocationView;
  readonly accessTokens: AccessTokens;
  /** The signing keys; their public halves are the JWKS. */
  readonly keys: KeyRing;
  /** With an asymmetric JWT_ALGORITHM: the stored keys and their rotation. */
  readonly keyManager: KeyManager | undefined;
  /** Password reset and email verification; `drain()` waits for mail still being sent. */
  readonly accounts: AccountService;
  /** Sign-in through OpenID Connect providers (none configured: an empty list of providers). */
  readonly oidc: OidcService;
  /** Stops polling and closes the database (and the embedded mongod, if any). */
  close(): Promise<void>;
}

/** The composition root: builds every layer from the config, left to right, and holds no logic of its own. */
export async function createServices(config: Config, logger: Logger, options: AppOptions = {}): Promise<Services> {
  const now = options.now ?? Date.now;
  const database = await connectDatabase(config, logger);
  let view: RevocationView | undefined;
  let keyManager: KeyManager | undefined;
  const mailer = createMailer(config.mail, logger);
  try {
    let keys: KeyRing;
    if (config.tokens.algorithm === 'HS256') {
      if (!config.tokens.jwtSecret) throw new Error('JWT_SECRET is required with JWT_ALGORITHM=HS256.');
      keys = await createHmacKeyRing(config.tokens.jwtSecret);
    } else {
      keyManager = createKeyManager({
        store: await createSigningKeysStore(database),
        encryption: createKeyEncryption(config.tokens.refreshTokenHashSecret),
        algorithm: config.tokens.algorithm,
        leadSeconds: config.tokens.keyRotationLeadSeconds,
        tokenReachSeconds: config.tokens.accessTokenTtlSeconds + config.tokens.clockToleranceSeconds,
        logger,
        now,
      });
      await keyManager.start();
      keys = keyManager.ring;
    }
    const accessTokens = createAccessTokens({
      keys,
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      ttlSeconds: config.tokens.accessTokenTtlSeconds,
      clockToleranceSeconds: config.tokens.clockToleranceSeconds,
      now,
      cacheSize: config.tokens.accessTokenCacheSize,
    });
    const users = await createUsersStore(database);
    const revocations = await createRevocationsStore(database);
    view = createRevocationView({ store: revocations, logger, now, pollIntervalMs: REVOCATION_POLL_MS, maxLagMs: config.revocations.maxLagSeconds * 1000 });
    await view.start();
    const audit = await createAuditStore(database);
    const sessions = createSessionManager({
      users,
      sessions: await createSessionsStore(database),
      sessionLists: await createSessionListsStore(database),
      refreshTokens: await createRefreshTokensStore(database),
      stepUps: await createSessionStepUpsStore(database, randomId),
      revocations,
      view,
      audit,
      accessTokens,
      refreshTokenKeys: createRefreshTokenKeys(config.tokens.refreshTokenHashSecret),
      logger,
      now,
      refreshTokenTtlSeconds: config.tokens.refreshTokenTtlSeconds,
      sessionMaxAgeSeconds: config.tokens.sessionMaxAgeSeconds,
      refreshGraceSeconds: config.tokens.refreshGraceSeconds,
      accessTokenTtlSeconds: config.tokens.accessTokenTtlSeconds,
      clockToleranceSeconds: config.tokens.clockToleranceSeconds,
      maxSessionsPerUser: config.maxSessionsPerUser,
    });
    const passwords =
      options.passwords ??
      createPasswordHasher({ argon2: config.argon2, ...(config.passwordHashConcurrency !== undefined && { maxConcurrent: config.passwordHashConcurrency }) });
    const rateLimits = await createRateLimitsStore(database);
    const accounts = createAccountService({
      users,
      tokens: await createAccountTokensStore(database),
      verifications: await createEmailVerificationsStore(database),
      keys: createAccountTokenKeys(config.tokens.refreshTokenHashSecret),
      passwords,
      sessions,
      audit,
      mailer,
      throttle: createMailThrottle(rateLimits),
      logger,
      now,
      publicUrl: config.mail.publicUrl,
      passwordResetTtlSeconds: config.mail.passwordResetTtlSeconds,
      emailVerificationTtlSeconds: config.mail.emailVerificationTtlSeconds,
    });
    const auth = createAuthService({
      users,
      sessions,
      view,
      passwords,
      throttle: createLoginThrottle(rateLimits),
      accessTokens,
      audit,
      logger,
      signUpEnabled: config.signUpEnabled,
      knownRoles: config.roles,
      accounts,
      requireVerifiedEmail: config.mail.requireVerifiedEmail,
      now,
      secondFactor: createSecondFactor({
        store: await createSecondFactorStore(database),
        challenges: await createMfaChallengesStore(database),
        keys: createSecondFactorKeys(config.tokens.refreshTokenHashSecret),
        issuer: config.mfa.webauthn.rpName,
        now,
      }),
      mfaRequiredRoles: config.mfa.requiredRoles,
      reauthMaxAgeSeconds: config.mfa.reauthMaxAgeSeconds,
      passkeys: createPasskeys({
        store: await createPasskeysStore(database),
        challenges: await createWebAuthnChallengesStore(database),
        users,
        rpId: config.mfa.webauthn.rpId,
        rpName: config.mfa.webauthn.rpName,
        origins: config.mfa.webauthn.origins,
        logger,
        onClonedAuthenticator: (passkey) =>
          audit
            .record({ type: 'passkey-refused', userId: passkey.userId, sessionId: null, at: new Date(now()), clientAddress: null, userAgent: null, detail: `signature counter did not grow for passkey ${passkey.id}: possibly cloned` })
            .catch((error: unknown) => logger.error({ err: error }, 'could not write an audit event')),
        now,
      }),
    });
    const registry = createProviderRegistry({ providers: config.oidc.providers, logger });
    const oidc = createOidcService({
      registry,
      flows: await createOidcFlowsStore(database),
      identities: await createLinkedIdentitiesStore(database),
      users,
      sessions,
      accounts,
      audit,
      rateLimits,
      logger,
      publicUrl: config.oidc.redirectBase,
      allowedOrigins: config.allowedOrigins,
      signUpEnabled: config.signUpEnabled,
      requireVerifiedEmail: config.mail.requireVerifiedEmail,
      now,
    });
    // In the background: a provider that is down delays nothing and is retried.
    registry.start();
    if (config.mail.delivery === 'smtp') logger.info({ smtp: config.mail.smtpServer }, 'account mail is sent through SMTP');
    if (config.mail.delivery === 'log') logger.info('SMTP_URL is unset: account mail (links included) is written to this log instead of being sent (development only)');
    if (config.mail.delivery === 'off') logger.info('SMTP_URL is unset: password reset and email verification answer MAIL_DISABLED');
    const started = view;
    const manager = keyManager;
    return {
      auth,
      database,
      view: started,
      accessTokens,
      keys,
      keyManager: manager,
      accounts,
      oidc,
      async close(): Promise<void> {
        oidc.stop();
        // Mail in flight finishes (bounded by MAIL_TIMEOUT_MS) while the database is still there.
        await accounts.drain();
        mailer.close();
        started.stop();
        manager?.stop();
        await database.close();
      },
    };
  } catch (error) {
    mailer.close();
    view?.stop();
    keyManager?.stop();
    await database.close();
    throw error;
  }
}

export async function createApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<App> {
  const now = options.now ?? Date.now;
  const ownSchema = buildGatewaySchema();
  // Gateway mode: upstream schemas load first, so a bad SDL file or a collision refuses the start (a ConfigError
  // listing every problem) before anything connects. An upstream that is down does not: it is retried.
  let registry: UpstreamRegistry | undefined;
  if (config.upstreams.list.length > 0) {
    registry = createUpstreamRegistry({
      upstreams: config.upstreams.list,
      ownSchema,
      knownRoles: config.roles,
      timeoutMs: config.upstreams.timeoutMs,
      maxResponseBytes: config.upstreams.maxResponseBytes,
      pollSeconds: config.upstreams.schemaPollSeconds,
      logger,
    });
    await registry.start();
  }
  let services: Services;
  try {
    services = await createServices(config, logger, options);
  } catch (error) {
    registry?.stop();
    throw error;
  }
  const { auth, database, view, accessTokens, keys } = services;
  const httpServer = createServer({ maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS });
  // Slow clients are cut off: a request must arrive whole within these, so idle sockets cannot pile up.
  httpServer.headersTimeout = HEADERS_TIMEOUT_MS;
  httpServer.requestTimeout = REQUEST_TIMEOUT_MS;
  const production = config.env === 'production';
  const limits = graphqlLimits({ hideSuggestions: production });
  const validationRules = [...limits.validationRules, oneAuthMutationPerOperation];
  const identity = createIdentityCache({ tokens: createIdentityTokens({ keys, issuer: config.tokens.issuer, now }), now });
  const gatewayExecution = registry
    ? createGatewayExecution({
        identity,
        forwardHeaders: config.upstreams.forwardHeaders,
        mode: config.authorizationMode,
        logger,
        deduplicate: config.performance.deduplicate,
      })
    : undefined;
  const schemaSource = registry && gatewayExecution ? { gateway: upstreamGateway(registry, gatewayExecution) } : { schema: ownSchema };
  // The pass-through uses the very rules and parse options Apollo validates with, and the same identity cache.
  const current = registry;
  const passThrough = current && gatewayExecution && {
    run: createPassThrough({
      execution: gatewayExecution,
      identity,
      forwardHeaders: config.upstreams.forwardHeaders,
      deduplicate: config.performance.deduplicate,
      parseOptions: limits.parseOptions,
      validationRules,
    }),
    composition: () => current.current(),
  };
  const formatError = createFormatError(logger, { production, upstreamErrorCodesPassed: config.upstreams.errorCodesPassed });
  const apollo = new ApolloServer<GatewayContext>({
    ...schemaSource,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: config.introspectionEnabled,
    hideSchemaDetailsFromClientErrors: production,
    allowBatchedHttpRequests: false,
    parseOptions: limits.parseOptions,
    validationRules,
    // Apollo's default landing page loads script from a CDN; a page that holds credentials must not. The
    // playground (src/http/playground.ts) is bundled at build time and served from this origin instead.
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // Every answer is no-store (http/server.ts) and no type carries a cache hint, so Apollo's default cache
      // control plugin computes a policy nobody reads, and, being a willResolveField plugin, wraps every
      // resolver of the schema to do it.
      ApolloServerPluginCacheControlDisabled(),
      authEndpointPlugin(),
      unavailablePlugin(),
      ...limits.plugins,
    ],
    logger,
    // main.ts owns the signals and stops Apollo, the database and the embedded mongod in order.
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  const upstreams = registry;
  const live = createLive({
    httpServer,
    auth,
    oidc: services.oidc,
    accessTokens,
    view,
    ownSchema,
    gateway: upstreams && gatewayExecution ? { current: () => upstreams.current(), execution: gatewayExecution, mode: config.authorizationMode, identity } : undefined,
    settings: config.subscriptions,
    allowedOrigins: config.allowedOrigins,
    trustedProxies: config.trustedProxies,
    parseOptions: limits.parseOptions,
    validationRules,
    formatError,
    production,
    logger,
    now,
  });
  httpServer.on(
    'request',
    createHttpApp({
      apollo,
      contextFor: createContextFactory(auth, services.oidc),
      oidc: services.oidc,
      authenticate: (accessToken) => auth.authenticate(accessToken),
      isReady: async () => view.isFresh() && (registry?.isReady() ?? true) && (await database.ping()),
      metrics: config.metricsEnabled ? createMetrics({ database, view, accessTokens, ...(services.keyManager && { signingKeys: services.keyManager }), ...(registry && { upstreams: registry }) }) : undefined,
      allowedOrigins: config.allowedOrigins,
      trustedProxies: config.trustedProxies,
      jwks: () => keys.jwks(now()),
      // Verifiers must see a new key before it signs: their cached copy may be at most half the lead time old.
      jwksMaxAgeSeconds: Math.min(3600, Math.floor(config.tokens.keyRotationLeadSeconds / 2)),
      playgroundEnabled: config.playgroundEnabled,
      liveStream: live.sse,
      logger,
      now,
      ...(passThrough && !options.generalPathOnly && { passThrough }),
    }),
  );
  return {
    httpServer,
    auth,
    database,
    view,
    keyManager: services.keyManager,
    accounts: services.accounts,
    live,
    async stop(): Promise<void> {
      // Live connections first, with 1012 (reconnect): the drain below waits for open connections.
      await live.stop();
      await apollo.stop();
      await services.close();
    },
  };
}
