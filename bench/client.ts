import { randomBytes } from 'node:crypto';
import { ACCESS_COOKIE, AUTH_PATH } from '../src/http/cookies.js';

/** Request bodies of the bench, as sent on the wire (content-type application/json). */
export const QUERIES = {
  anonymous: JSON.stringify({ query: '{ __typename }' }),
  authenticated: JSON.stringify({ query: '{ currentSession { id } }' }),
} as const;

export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' });

export interface GraphQLReply {
  readonly status: number;
  readonly body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  readonly setCookies: string[];
}

export async function graphql(
  origin: string,
  query: string,
  options: { variables?: Record<string, unknown>; headers?: Record<string, string>; path?: string } = {},
): Promise<GraphQLReply> {
  const response = await fetch(`${origin}${options.path ?? '/graphql'}`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...options.headers },
    body: JSON.stringify({ query, variables: options.variables ?? {} }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLReply['body'], setCookies: response.headers.getSetCookie() };
}

/** The reply's data, or an error that quotes the reply: setup steps must not fail quietly. */
export function dataOf(reply: GraphQLReply, what: string): Record<string, unknown> {
  if (reply.status !== 200 || reply.body.errors || !reply.body.data) throw new Error(`${what} failed: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.data;
}

export interface Credentials {
  readonly email: string;
  readonly password: string;
}

export async function signUp(origin: string, user: Credentials): Promise<void> {
  const reply = await graphql(origin, 'mutation ($email: String!, $password: String!) { signUp(email: $email, password: $password) }', {
    variables: { ...user },
    path: AUTH_PATH,
  });
  dataOf(reply, 'signUp');
}

/**
 * Bench accounts, all signed up through the gateway. Logins need one account per concurrent client: the login
 * throttle allows 5 attempts in flight per account and address, and only a success starts the count over.
 */
export async function signUpUsers(origin: string, count: number): Promise<Credentials[]> {
  const users = Array.from({ length: count }, (_, i): Credentials => ({ email: `bench-${i}@example.com`, password: randomBytes(18).toString('base64url') }));
  await Promise.all(users.map((user) => signUp(origin, user)));
  return users;
}

/** Body of a login that returns the tokens in the response (delivery BODY). */
export function loginBody(user: Credentials): string {
  return JSON.stringify({
    query: 'mutation ($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken refreshToken } }',
    variables: { ...user },
  });
}

export async function loginForTokens(origin: string, user: Credentials): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await fetch(`${origin}${AUTH_PATH}`, { method: 'POST', headers: JSON_HEADERS, body: loginBody(user) });
  const reply: GraphQLReply = { status: response.status, body: (await response.json()) as GraphQLReply['body'], setCookies: [] };
  const login = dataOf(reply, 'login (BODY)')['login'] as { accessToken?: unknown; refreshToken?: unknown };
  if (typeof login.accessToken !== 'string' || typeof login.refreshToken !== 'string') throw new Error('login (BODY) returned no tokens');
  return { accessToken: login.accessToken, refreshToken: login.refreshToken };
}

/** Logs in as a browser would and returns the `cookie` header value that carries the access token. */
export async function loginForAccessCookie(origin: string, user: Credentials): Promise<string> {
  const reply = await graphql(origin, 'mutation ($email: String!, $password: String!) { login(email: $email, password: $password) { accessTokenExpiresAt } }', {
    variables: { ...user },
    path: AUTH_PATH,
  });
  dataOf(reply, 'login (COOKIE)');
  const cookie = reply.setCookies.map((header) => header.split(';')[0] ?? '').find((pair) => pair.startsWith(`${ACCESS_COOKIE}=`));
  if (!cookie) throw new Error(`login (COOKIE) set no ${ACCESS_COOKIE} cookie`);
  return cookie;
}
