import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { createAuthService, type AuthService } from './auth/auth-service.js';
import { createPasswordHasher, type PasswordHasher } from './auth/password.js';
import type { Config } from './config/config.js';
import { authEndpointPlugin } from './graphql/auth-endpoint.plugin.js';
import { createContextFactory, type GatewayContext } from './graphql/context.js';
import { createFormatError } from './graphql/format-error.js';
import { buildGatewaySchema } from './graphql/schema.js';
import { createHttpApp } from './http/server.js';
import type { Logger } from './logger.js';
import { connectDatabase, type Database } from './stores/mongo.js';
import { createRefreshTokensStore } from './stores/refresh-tokens.store.js';
import { createUsersStore } from './stores/users.store.js';
import { createAccessTokens } from './tokens/access-token.js';
import { createKeyRing } from './tokens/keys.js';
import { createRefreshTokenHasher } from './tokens/refresh-token.js';

export interface AppOptions {
  /** Milliseconds since the epoch. Tests inject a clock instead of sleeping. */
  readonly now?: () => number;
  /** Tests may count calls; production uses argon2id with the OWASP parameters. */
  readonly passwords?: PasswordHasher;
}

export interface App {
  /** Not listening yet: main.ts (or a test) calls listen. */
  readonly httpServer: Server;
  readonly auth: AuthService;
  readonly database: Database;
  stop(): Promise<void>;
}

/** The composition root: builds every layer from the config, left to right, and holds no logic of its own. */
export async function createServices(config: Config, logger: Logger, options: AppOptions = {}): Promise<{ auth: AuthService; database: Database }> {
  const now = options.now ?? Date.now;
  const keys = await createKeyRing(config.tokens.jwtSecret);
  const accessTokens = createAccessTokens({
    keys,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    ttlSeconds: config.tokens.accessTokenTtlSeconds,
    clockToleranceSeconds: config.tokens.clockToleranceSeconds,
    now,
  });
  const database = await connectDatabase(config, logger);
  try {
    const auth = createAuthService({
      users: await createUsersStore(database),
      refreshTokens: await createRefreshTokensStore(database),
      passwords: options.passwords ?? createPasswordHasher(),
      accessTokens,
      refreshTokenHasher: createRefreshTokenHasher(config.tokens.refreshTokenHashSecret),
      refreshTokenTtlSeconds: config.tokens.refreshTokenTtlSeconds,
      sessionMaxAgeSeconds: config.tokens.sessionMaxAgeSeconds,
      signUpEnabled: config.signUpEnabled,
      now,
    });
    return { auth, database };
  } catch (error) {
    await database.close();
    throw error;
  }
}

export async function createApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<App> {
  const now = options.now ?? Date.now;
  const { auth, database } = await createServices(config, logger, options);
  const httpServer = createServer();
  const apollo = new ApolloServer<GatewayContext>({
    schema: buildGatewaySchema(),
    formatError: createFormatError(logger),
    includeStacktraceInErrorResponses: false,
    introspection: config.env !== 'production',
    // Apollo's default landing page loads script from a CDN; a page that holds credentials must not.
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), ApolloServerPluginLandingPageDisabled(), authEndpointPlugin()],
    logger,
    // main.ts owns the signals and stops Apollo, the database and the embedded mongod in order.
    stopOnTerminationSignals: false,
  });
  await apollo.start();
  httpServer.on(
    'request',
    createHttpApp({ apollo, contextFor: createContextFactory(auth), isDatabaseReady: () => database.ping(), logger, now }),
  );
  return {
    httpServer,
    auth,
    database,
    async stop(): Promise<void> {
      await apollo.stop();
      await database.close();
    },
  };
}
