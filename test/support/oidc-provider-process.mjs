// A real OpenID provider (panva's oidc-provider, OpenID certified) as its own process on loopback, for the tests.
// Usage: node oidc-provider-process.mjs '<json>' where the JSON holds
//   { port?: number, clients: ClientMetadata[], jwks: { keys: JWK[] }, accounts: { [id]: claims },
//     idTokenAudience?: string }
// It prints one line, {"url": "<issuer>"}, once it listens. People sign in through oidc-provider's own
// development login and consent pages (devInteractions): any password, the login naming an account id.
// idTokenAudience: every ID token the token endpoint answers is replaced by one the provider signs for that other
// client (same sub and nonce): what a relying party must refuse (the audience check).
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
const server = createServer();
await new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: options.clients,
  jwks: options.jwks,
  cookies: { keys: ['test-provider-cookie-key-0123456789'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  // Every client must send PKCE (the default requires it only of public clients).
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    const claims = options.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});

if (options.idTokenAudience) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || !ctx.body || typeof ctx.body.id_token !== 'string') return;
    const claims = JSON.parse(Buffer.from(ctx.body.id_token.split('.')[1], 'base64url').toString('utf8'));
    const other = await provider.Client.find(options.idTokenAudience);
    const token = new provider.IdToken({ sub: claims.sub }, { ctx, client: other });
    token.scope = 'openid';
    token.set('nonce', claims.nonce);
    ctx.body = { ...ctx.body, id_token: await token.issue({ use: 'idtoken' }) };
  });
}

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ url: issuer })}\n`);
process.on('SIGTERM', () => process.exit(0));
