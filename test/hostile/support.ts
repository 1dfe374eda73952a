import { createHmac } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { ACCESS_COOKIE, REFRESH_COOKIE } from '../../src/http/cookies.js';
import { createHmacKeyRing } from '../../src/tokens/keys.js';
import type { TestGateway } from '../support/gateway.js';

export const PASSWORD = 'correct horse battery staple';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly setCookies: string[];
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | undefined;
}

export interface RawOptions {
  readonly method?: string;
  readonly path?: string;
  /** Sent exactly as given (no defaults beyond what node:http adds: Host and Content-Length). */
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/**
 * One HTTP request with full control over the headers (Origin, Host, Sec-Fetch-Site, Content-Type), which
 * fetch either forbids or rewrites. No connection reuse, so no test sees another's socket.
 */
export function raw(baseUrl: string, options: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(options.path ?? '/graphql', baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'POST',
        headers: {
          ...(options.body !== undefined && { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: RawResponse['json'];
          try {
            json = JSON.parse(text) as RawResponse['json'];
          } catch {
            json = undefined;
          }
          const setCookie = res.headers['set-cookie'];
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, setCookies: setCookie ?? [], json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** A JSON GraphQL POST with extra headers. */
export function postGraphQL(
  baseUrl: string,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/graphql',
): Promise<RawResponse> {
  return raw(baseUrl, { path, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

export const LOGIN = 'mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { user { id email } } }';
export const LOGOUT = 'mutation { logout }';
export const ME = '{ me { id email roles } }';

export function firstCode(response: { json: RawResponse['json'] }): unknown {
  return response.json?.errors?.[0]?.extensions?.['code'];
}

export function sessionCookiesOf(setCookies: readonly string[]): { access: string; refresh: string } {
  const access = setCookies.find((line) => line.startsWith(`${ACCESS_COOKIE}=`));
  const refresh = setCookies.find((line) => line.startsWith(`${REFRESH_COOKIE}=`));
  if (!access || !refresh) throw new Error('expected both session cookies');
  return { access: access.split(';')[0] ?? '', refresh: refresh.split(';')[0] ?? '' };
}

/** Signs in over JSON with no Origin (a non-browser client) and returns the two cookie pairs. */
export async function signInForCookies(gateway: TestGateway, email: string, password = PASSWORD): Promise<{ access: string; refresh: string }> {
  const response = await postGraphQL(gateway.url, { query: LOGIN, variables: { email, password } });
  if (response.status !== 200 || response.json?.errors) throw new Error(`login failed: ${response.text}`);
  return sessionCookiesOf(response.setCookies);
}

const b64url = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

/**
 * A compact JWS built from the exact header and payload bytes given (so duplicate keys, odd numbers and
 * invalid UTF-8 survive), HMAC-SHA256-signed with the gateway's own JWT_SECRET: whatever is refused is refused
 * for its content, not for its signature.
 */
export function signRaw(gateway: TestGateway, header: string | Buffer, payload: string | Buffer, encode: (bytes: Buffer | string) => string = b64url): string {
  const input = `${encode(header)}.${encode(payload)}`;
  const signature = createHmac('sha256', gateway.config.tokens.jwtSecret!.bytes()).update(input).digest('base64url');
  return `${input}.${signature}`;
}

export async function liveKid(gateway: TestGateway): Promise<string> {
  return (await createHmacKeyRing(gateway.config.tokens.jwtSecret!)).current(0).kid;
}
