// Hive Gateway in proxy mode, as the bench runs it (bench/peers.ts gives the upstream's URL and SDL on the
// command line, and sets the environment):
//   PEER_DEDUPLICATE  "off" turns in-flight de-duplication off (Hive Gateway's default is on)
//   PEER_JWT_SECRET   when set, the JWT plugin: an HS256 token in the "access" cookie is required and verified
import { createInlineSigningKeyProvider, defineConfig, extractFromCookie } from '@graphql-hive/gateway';
import { useCookies } from '@whatwg-node/server-plugin-cookies';

const secret = process.env.PEER_JWT_SECRET;

export const gatewayConfig = defineConfig({
  // The bench measures serving, not schema reloads: poll once an hour.
  pollingInterval: 3_600_000,
  logging: 'error',
  ...(process.env.PEER_DEDUPLICATE === 'off' && {
    transportEntries: { '*.http': { options: { deduplicateInflightRequests: false } } },
  }),
  ...(secret && {
    plugins: () => [useCookies()],
    jwt: {
      signingKeyProviders: [createInlineSigningKeyProvider(secret)],
      tokenLookupLocations: [extractFromCookie({ name: 'access' })],
      tokenVerification: { algorithms: ['HS256'] },
      reject: { missingToken: true, invalidToken: true },
    },
  }),
});
