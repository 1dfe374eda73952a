/**
 * A service behind the gateway that verifies its access tokens on its own, with nothing but jose and the
 * gateway's JWKS (JWT_ALGORITHM=EdDSA, ES256, RS256 or PS256). Run it beside the gateway:
 *
 *   GATEWAY_URL=http://127.0.0.1:4000 PORT=5000 npx tsx examples/downstream-service.ts
 *   curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:5000/
 */
import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface VerifierOptions {
  readonly gatewayUrl: string;
  /** The gateway's JWT_ISSUER and JWT_AUDIENCE. */
  readonly issuer: string;
  readonly audience: string;
  /** The gateway's JWT_ALGORITHM: pinned, so a token naming any other algorithm fails. */
  readonly algorithm: 'EdDSA' | 'ES256' | 'RS256' | 'PS256';
  /** jose's JWKS cache settings; the defaults suit production (tests shorten the refetch cooldown). */
  readonly jwks?: { cooldownDuration?: number; cacheMaxAge?: number };
}

export function createVerifier(options: VerifierOptions): (token: string) => Promise<JWTPayload> {
  // Fetched on first use and cached; an unknown kid triggers one refetch (at most every 30 s by default). The
  // gateway publishes a new key a lead time before it signs, so in practice the key is known in time.
  const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', options.gatewayUrl), options.jwks ?? {});
  return async (token: string): Promise<JWTPayload> => {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: [options.algorithm],
      typ: 'at+jwt',
      requiredClaims: ['sub', 'sid', 'jti', 'exp'],
    });
    return payload;
  };
}

/** Answers 200 with the caller's user id for a valid `Authorization: Bearer` access token, 401 otherwise. */
export function createDownstreamServer(verify: (token: string) => Promise<JWTPayload>): Server {
  return createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (!token) return answer(401, { error: 'missing bearer token' });
    verify(token).then(
      (payload) => answer(200, { userId: payload.sub, roles: payload['roles'] }),
      () => answer(401, { error: 'invalid token' }),
    );
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const verify = createVerifier({
    gatewayUrl: process.env['GATEWAY_URL'] ?? 'http://127.0.0.1:4000',
    issuer: process.env['JWT_ISSUER'] ?? 'portcullis',
    audience: process.env['JWT_AUDIENCE'] ?? 'portcullis',
    algorithm: (process.env['JWT_ALGORITHM'] ?? 'EdDSA') as VerifierOptions['algorithm'],
  });
  const port = Number(process.env['PORT'] ?? 5000);
  createDownstreamServer(verify).listen(port, '127.0.0.1', () => console.log(`downstream service on http://127.0.0.1:${port}/`));
}
