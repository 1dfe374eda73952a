/**
 * Apollo Client for a browser app on another origin, in front of Portcullis. The session lives in the gateway's
 * HttpOnly cookies (`credentials: 'include'`): this code never sees a token. When the access token has expired,
 * the gateway answers UNAUTHENTICATED with `reason: TOKEN_EXPIRED`; the refresh link then calls `refresh` at
 * /graphql/auth once for every request waiting at that moment, and retries each of them.
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, ServerError, gql, type TypedDocumentNode } from '@apollo/client';
import { catchError, from, mergeMap, of, throwError, type Observable } from 'rxjs';

/** Operations served at /graphql/auth, where the refresh cookie (Path=/graphql/auth) is sent. */
const AUTH_OPERATIONS = new Set(['Login', 'Refresh', 'Logout', 'VerifySecondFactor', 'PasskeyLoginOptions', 'LoginWithPasskey']);

export const LOGIN: TypedDocumentNode<{ login: { user: { email: string } } }, { email: string; password: string }> = gql`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      user {
        id
        email
      }
    }
  }
`;

/** The second step of a sign-in that answered MFA_REQUIRED. */
export const VERIFY_SECOND_FACTOR: TypedDocumentNode<{ verifySecondFactor: { user: { email: string } } }, { challenge: string; code: string }> = gql`
  mutation VerifySecondFactor($challenge: String!, $code: String!) {
    verifySecondFactor(challenge: $challenge, code: $code) {
      user {
        id
        email
      }
    }
  }
`;

/** Passkeys: options for the browser's WebAuthn calls, and what it answered. */
export const PASSKEY_LOGIN_OPTIONS: TypedDocumentNode<{ passkeyLoginOptions: unknown }> = gql`
  mutation PasskeyLoginOptions {
    passkeyLoginOptions
  }
`;

export const LOGIN_WITH_PASSKEY: TypedDocumentNode<{ loginWithPasskey: { user: { email: string } } }, { response: unknown }> = gql`
  mutation LoginWithPasskey($response: JSON!) {
    loginWithPasskey(response: $response) {
      user {
        id
        email
      }
    }
  }
`;

export const PASSKEY_REGISTRATION_OPTIONS: TypedDocumentNode<{ passkeyRegistrationOptions: unknown }> = gql`
  mutation PasskeyRegistrationOptions {
    passkeyRegistrationOptions
  }
`;

export const REGISTER_PASSKEY: TypedDocumentNode<{ registerPasskey: { id: string; name: string } }, { response: unknown; name: string }> = gql`
  mutation RegisterPasskey($response: JSON!, $name: String) {
    registerPasskey(response: $response, name: $name) {
      id
      name
    }
  }
`;

const REFRESH: TypedDocumentNode<{ refresh: { accessTokenExpiresAt: string } }> = gql`
  mutation Refresh {
    refresh {
      accessTokenExpiresAt
    }
  }
`;

export const LOGOUT: TypedDocumentNode<{ logout: boolean }> = gql`
  mutation Logout {
    logout
  }
`;

interface GraphQLErrorLike {
  readonly extensions?: Record<string, unknown>;
}

function hasExpiredToken(errors: readonly GraphQLErrorLike[] | undefined): boolean {
  return errors?.some((error) => error.extensions?.['code'] === 'UNAUTHENTICATED' && error.extensions['reason'] === 'TOKEN_EXPIRED') ?? false;
}

/** A refusal may also come as an HTTP error status with a GraphQL body, which Apollo Client turns into a ServerError. */
function serverErrorHasExpiredToken(error: unknown): boolean {
  if (!ServerError.is(error)) return false;
  try {
    return hasExpiredToken((JSON.parse(error.bodyText) as { errors?: GraphQLErrorLike[] }).errors);
  } catch {
    return false;
  }
}

export interface GatewayClient {
  readonly client: ApolloClient;
  /** Refresh calls made so far (the test counts them at the gateway too). */
  refreshCount(): number;
}

export function createGatewayClient(options: { gatewayUrl: string; onSessionEnded: () => void }): GatewayClient {
  const base = options.gatewayUrl.replace(/\/+$/, '');
  let refreshes = 0;
  /** Bumped by every successful refresh: a request sent before one need not refresh again, only retry. */
  let generation = 0;
  let inFlight: Promise<boolean> | undefined;

  const http = new HttpLink({
    uri: (operation) => (AUTH_OPERATIONS.has(operation.operationName ?? '') ? `${base}/graphql/auth` : `${base}/graphql`),
    credentials: 'include',
  });

  /** One refresh at a time: whoever asks while one is running waits for that one. */
  function refreshOnce(): Promise<boolean> {
    inFlight ??= (async (): Promise<boolean> => {
      refreshes++;
      try {
        const result = await client.mutate({ mutation: REFRESH, errorPolicy: 'all' });
        const ok = !result.error && result.data?.refresh !== undefined;
        if (ok) generation++;
        else options.onSessionEnded();
        return ok;
      } catch {
        options.onSessionEnded();
        return false;
      }
    })().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  const refreshLink = new ApolloLink((operation, forward): Observable<ApolloLink.Result> => {
    if (AUTH_OPERATIONS.has(operation.operationName ?? '')) return forward(operation);
    const sentIn = generation;
    const retry = (original: Observable<ApolloLink.Result>): Observable<ApolloLink.Result> =>
      // Refreshed by someone else since this request left: the cookie is new already, just retry.
      from(sentIn !== generation ? Promise.resolve(true) : refreshOnce()).pipe(mergeMap((ok) => (ok ? forward(operation) : original)));
    return forward(operation).pipe(
      mergeMap((result) => ('errors' in result && hasExpiredToken(result.errors) ? retry(of(result)) : of(result))),
      catchError((error: unknown) => (serverErrorHasExpiredToken(error) ? retry(throwError(() => error)) : throwError(() => error))),
    );
  });

  const client = new ApolloClient({
    link: ApolloLink.from([refreshLink, http]),
    cache: new InMemoryCache(),
  });
  return { client, refreshCount: () => refreshes };
}
