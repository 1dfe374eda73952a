import { createHash } from 'node:crypto';
import type { PasswordHasher } from '../../src/auth/password.js';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { OIDC_FLOW_COOKIE } from '../../src/http/oidc-routes.js';
import type { Logger } from '../../src/logger.js';
import { freePort, startGateway, type TestGateway } from '../support/gateway.js';
import { testConfig } from '../support/config.js';
import { HttpBrowser } from '../support/oidc-browser.js';
import { startOidcProvider, type ProviderAccount, type TestProvider } from '../support/oidc-provider.js';

/** The people at every test provider (the login at its page names one). */
export const ACCOUNTS: Record<string, ProviderAccount> = {
  alice: { email: 'alice@corp.example', email_verified: true, name: 'Alice' },
  /** Has a password account at the gateway with the same email. */
  ada: { email: 'ada@example.com', email_verified: true },
  /** Likewise, for the trusted provider. */
  grace: { email: 'grace@example.com', email_verified: true },
  /** Claims the address of a password account without having verified it. */
  unverified: { email: 'linus@example.com', email_verified: false },
  newcomer: { email: 'newcomer@corp.example', email_verified: false },
  disabled: { email: 'disabled@corp.example', email_verified: true },
  mallory: { email: 'mallory@corp.example', email_verified: true },
  /** Without any email claim. */
  anonymous: {},
};

export interface Setup {
  readonly gateway: TestGateway;
  readonly providers: Record<string, TestProvider>;
  stop(): Promise<void>;
}

/**
 * The gateway on a port known before it starts (PUBLIC_URL names it), with one real oidc-provider per name.
 * `env` adds or overrides gateway settings; every provider's client is `<name>-client` with a secret.
 */
export async function startWithProviders(
  names: string[],
  env: Record<string, string> = {},
  options: { idTokenAudience?: boolean; logger?: Logger; hasher?: PasswordHasher; now?: () => number } = {},
): Promise<Setup> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const providers: Record<string, TestProvider> = {};
  const settings: Record<string, string> = { PUBLIC_URL: publicUrl, OIDC_PROVIDERS: names.join(','), SIGNUP_ENABLED: 'true' };
  for (const name of names) {
    providers[name] = await startOidcProvider({
      clients: [
        { client_id: `${name}-client`, client_secret: `${name}-secret-value`, redirect_uris: [`${publicUrl}/auth/oidc/${name}/callback`], token_endpoint_auth_method: 'client_secret_post' },
        { client_id: `${name}-other`, client_secret: `${name}-other-secret`, redirect_uris: [`${publicUrl}/elsewhere`], token_endpoint_auth_method: 'client_secret_post' },
      ],
      accounts: ACCOUNTS,
      ...(options.idTokenAudience && { idTokenAudience: `${name}-other` }),
    });
    const upper = name.toUpperCase();
    settings[`OIDC_${upper}_ISSUER`] = providers[name].url;
    settings[`OIDC_${upper}_CLIENT_ID`] = `${name}-client`;
    settings[`OIDC_${upper}_CLIENT_SECRET`] = `${name}-secret-value`;
  }
  const gateway = await startGateway({
    config: testConfig({ ...settings, ...env }),
    port,
    ...(options.logger && { logger: options.logger }),
    app: { ...(options.hasher && { passwords: options.hasher }), ...(options.now && { now: options.now }) },
  });
  return {
    gateway,
    providers,
    async stop(): Promise<void> {
      await gateway.stop();
      for (const provider of Object.values(providers)) await provider.stop();
    },
  };
}

/** The session cookies the browser holds for the gateway, as a Cookie header for GraphQL requests. */
export function sessionCookieHeader(browser: HttpBrowser, gateway: TestGateway, path: '/graphql' | '/graphql/auth' = '/graphql'): string {
  const host = new URL(gateway.url).host;
  const access = browser.cookie(host, ACCESS_COOKIE);
  const refresh = browser.cookie(host, REFRESH_COOKIE);
  const parts = [access && `${ACCESS_COOKIE}=${access}`, path === '/graphql/auth' && refresh && `${REFRESH_COOKIE}=${refresh}`].filter(Boolean);
  return parts.join('; ');
}

/** The error code in a redirect's fragment (#error=CODE), or undefined. */
export function errorOf(location: string): string | undefined {
  return /#error=([A-Z_]+)$/.exec(location)?.[1];
}

/** The stored flow record's id for the flow cookie this browser holds (the store keys flows by its hash). */
export function flowIdOf(browser: HttpBrowser, gateway: TestGateway): string {
  const key = browser.cookie(new URL(gateway.url).host, OIDC_FLOW_COOKIE);
  if (!key) throw new Error('no flow cookie');
  return createHash('sha256').update(key).digest('base64url');
}
