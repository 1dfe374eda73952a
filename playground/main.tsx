// The playground: GraphiQL, bundled by Vite from npm and served by the gateway itself, so nothing is fetched
// from another origin. Requests carry the browser's cookies; the JSON content type satisfies Apollo's CSRF
// prevention.
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import './style.css';
import { GraphiQL } from 'graphiql';
import { Kind, parse, type ExecutionResult, type OperationDefinitionNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { createRoot } from 'react-dom/client';

/** The mutations served at /graphql/auth (src/graphql/auth-endpoint.plugin.ts); the refresh cookie lives there. */
const AUTH_FIELDS = new Set(['login', 'signUp', 'refresh', 'logout']);

interface Params {
  readonly query: string;
  readonly operationName?: string | null;
  readonly variables?: unknown;
}

/** /graphql/auth when every root field of the operation to run is an auth mutation, else /graphql. */
function endpointFor({ query, operationName }: Params): string {
  let operation: OperationDefinitionNode | undefined;
  try {
    const operations = parse(query).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  } catch {
    return '/graphql'; // the server reports the syntax error
  }
  if (operation?.operation !== 'mutation') return '/graphql';
  const fields = operation.selectionSet.selections;
  return fields.length > 0 && fields.every((f) => f.kind === Kind.FIELD && AUTH_FIELDS.has(f.name.value)) ? '/graphql/auth' : '/graphql';
}

function isSubscription({ query, operationName }: Params): boolean {
  try {
    const operations = parse(query).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
    return operation?.operation === 'subscription';
  } catch {
    return false;
  }
}

/** Subscriptions go over a WebSocket to this origin's /graphql; the browser sends the access cookie on the upgrade. */
let live: Client | undefined;

function fetcher(params: Params, options?: { headers?: Record<string, unknown> }): Promise<ExecutionResult> | AsyncIterable<ExecutionResult> {
  if (isSubscription(params)) {
    live ??= createClient({ url: `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/graphql`, lazy: true, retryAttempts: 0 });
    return live.iterate({ query: params.query, ...(params.operationName && { operationName: params.operationName }), ...(isRecord(params.variables) && { variables: params.variables }) }) as AsyncIterable<ExecutionResult>;
  }
  return post(params, options);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function post(params: Params, options?: { headers?: Record<string, unknown> }): Promise<ExecutionResult> {
  const response = await fetch(endpointFor(params), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { ...(options?.headers as Record<string, string> | undefined), 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(params),
  });
  return (await response.json()) as ExecutionResult;
}

const TRY_THIS = `# Welcome to the Portcullis playground.
#
# 1. Run "Login" below with your account (create one with: npm run user:create -- --email you@example.com).
#    The tokens arrive as HttpOnly cookies: this page cannot read them, the browser sends them.
# 2. Run "Me". Then "Refresh" and "Logout" (sent to /graphql/auth, where the refresh cookie is scoped).
#    With a second factor, "Login" answers MFA_REQUIRED: put its extensions.challenge and a code from your
#    authenticator app (or a recovery code) into "VerifySecondFactor", and run that instead.
# 3. "MySessionEvents" runs over a WebSocket: sign in from another browser to see it; log out to see it end.

mutation Login {
  login(email: "ada@example.com", password: "change me") {
    user { id email roles }
    accessTokenExpiresAt
  }
}

mutation VerifySecondFactor {
  verifySecondFactor(challenge: "from the MFA_REQUIRED answer", code: "123456") {
    user { id email roles }
    accessTokenExpiresAt
  }
}

query Me {
  me { id email roles }
}

mutation Refresh {
  refresh { accessTokenExpiresAt refreshTokenExpiresAt }
}

mutation Logout {
  logout
}

subscription MySessionEvents {
  mySessionEvents { kind sessionId at userAgent clientAddress }
}
`;

/**
 * One link per sign-in provider (signInProviders), back to this page; a refused sign-in comes back with
 * `#error=<CODE>`, shown beside them.
 */
async function showProviders(): Promise<void> {
  const error = /^#error=([A-Z_]+)$/.exec(window.location.hash)?.[1];
  // A query: the fetcher answers it with one result, never a stream.
  const result = (await fetcher({ query: '{ signInProviders { name label startUrl } }' })) as { data?: unknown };
  const providers = (result.data as { signInProviders?: Array<{ name: string; label: string; startUrl: string }> } | undefined)?.signInProviders ?? [];
  if (providers.length === 0) return;
  const nav = document.getElementById('providers')!;
  const links = providers.map((provider) => {
    const link = document.createElement('a');
    link.href = `${provider.startUrl}?returnTo=${encodeURIComponent('/playground')}`;
    link.dataset['provider'] = provider.name;
    link.textContent = `Sign in with ${provider.label}`;
    return link;
  });
  const status = document.createElement('span');
  status.textContent = error ? `Sign-in failed: ${error}` : '';
  nav.replaceChildren(...links, status);
  nav.hidden = false;
}
void showProviders();

const url = new URL(window.location.href);
const query = url.searchParams.get('query') ?? undefined;
const variables = url.searchParams.get('variables') ?? undefined;

createRoot(document.getElementById('playground')!).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={TRY_THIS}
    {...(query !== undefined && { initialQuery: query })}
    {...(variables !== undefined && { initialVariables: variables })}
    // Headers (e.g. a Bearer token for delivery: BODY) are never written to localStorage.
    shouldPersistHeaders={false}
  />,
);
