/**
 * The page: sign in, show what the gateway lets this user see, reload it all at once, sign out. Its settings
 * (the gateway's URL, whether the shop upstream is behind it) come from /config.json on this app's own origin,
 * so the bundle has no inline script and no build-time URL.
 */
import './style.css';
import { CombinedGraphQLErrors, gql, type DocumentNode } from '@apollo/client';
import { createClient as createLiveClient, type Client as LiveClient } from 'graphql-ws';
import { createGatewayClient, LOGIN, LOGOUT, type GatewayClient } from './client.js';

interface AppConfig {
  readonly gatewayUrl: string;
  /** The gateway serves the shop upstream's fields (examples/upstream-service.ts). */
  readonly shop: boolean;
}

/** Each panel is one query; "Reload everything" sends them all at once. */
const PANELS: ReadonlyArray<{ id: string; title: string; query: DocumentNode; shop?: true }> = [
  { id: 'me', title: 'Me', query: gql`query Me { me { id email roles } }` },
  { id: 'session', title: 'This session', query: gql`query CurrentSession { currentSession { id accessTokenExpiresAt } }` },
  { id: 'sessions', title: 'My sessions', query: gql`query MySessions { mySessions { id current } }` },
  { id: 'orders', title: 'My orders', query: gql`query Orders { orders { id total items { quantity product { name } } } }`, shop: true },
];

const PRODUCTS = gql`
  query Products {
    products {
      id
      name
      price
      reviews {
        id
        rating
      }
    }
  }
`;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

function setStatus(text: string): void {
  element('status').textContent = text;
}

function codeOf(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) return String(error.errors[0]?.extensions?.['code'] ?? 'ERROR');
  return error instanceof Error ? error.name : 'ERROR';
}

async function main(): Promise<void> {
  const config = (await (await fetch('/config.json')).json()) as AppConfig;
  const gateway: GatewayClient = createGatewayClient({ gatewayUrl: config.gatewayUrl, onSessionEnded: () => showSignedOut('Your session has ended. Sign in again.') });
  const { client } = gateway;
  const panels = PANELS.filter((panel) => !panel.shop || config.shop);

  /**
   * New reviews of the first product, live over a WebSocket to the gateway (the browser sends the access cookie
   * on the upgrade). The gateway closes it with 4403 the moment the session ends, on any instance.
   */
  let live: LiveClient | undefined;
  function startLiveReviews(): void {
    if (!config.shop || live) return;
    const list = element('live-reviews');
    list.replaceChildren();
    element('live').hidden = false;
    live = createLiveClient({
      url: `${config.gatewayUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/graphql`,
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      on: {
        closed: (event) => {
          if ((event as { code?: number }).code === 4403) showSignedOut('Your session has ended. Sign in again.');
        },
      },
    });
    live.subscribe<{ reviewAdded: { rating: number; text: string } }>(
      { query: 'subscription LiveReviews { reviewAdded(productId: "p1") { rating text } }' },
      {
        next: (result) => {
          const review = result.data?.reviewAdded;
          if (!review) return;
          const item = document.createElement('li');
          item.textContent = `${review.rating}/5: ${review.text}`;
          list.append(item);
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
  }
  function stopLiveReviews(): void {
    void live?.dispose();
    live = undefined;
    element('live').hidden = true;
  }

  function showSignedOut(message: string): void {
    stopLiveReviews();
    element('signed-in').hidden = true;
    element('login-form').hidden = false;
    element('panels').replaceChildren();
    document.body.dataset['session'] = 'signed-out';
    setStatus(message);
  }

  async function loadPanels(): Promise<void> {
    const container = element('panels');
    const boxes = panels.map((panel) => {
      const box = document.createElement('section');
      box.className = 'panel';
      box.id = `panel-${panel.id}`;
      box.dataset['state'] = 'loading';
      box.textContent = `${panel.title}: loading…`;
      return box;
    });
    container.replaceChildren(...boxes);
    // All at once: after an access-token expiry these all come back TOKEN_EXPIRED together, and the client
    // refreshes once for them.
    await Promise.all(
      panels.map(async (panel, i) => {
        const box = boxes[i] as HTMLElement;
        const result = await client.query({ query: panel.query, fetchPolicy: 'network-only', errorPolicy: 'all' });
        if (result.error || !result.data) {
          box.dataset['state'] = 'error';
          box.textContent = `${panel.title}: ${codeOf(result.error)}`;
        } else {
          box.dataset['state'] = 'ok';
          box.textContent = `${panel.title}: ${JSON.stringify(result.data)}`;
        }
      }),
    );
    setStatus(`Loaded at ${new Date().toLocaleTimeString()}. Refreshes so far: ${gateway.refreshCount()}.`);
  }

  async function showSignedIn(): Promise<boolean> {
    const result = await client.query({ query: PANELS[0]!.query, fetchPolicy: 'network-only', errorPolicy: 'all' });
    const me = (result.data as { me?: { email: string } } | undefined)?.me;
    if (!me) return false;
    element('who').textContent = me.email;
    element('login-form').hidden = true;
    element('signed-in').hidden = false;
    document.body.dataset['session'] = 'signed-in';
    await loadPanels();
    startLiveReviews();
    return true;
  }

  async function loadCatalogue(): Promise<void> {
    if (!config.shop) {
      element('catalogue').hidden = true;
      return;
    }
    const result = await client.query({ query: PRODUCTS, fetchPolicy: 'network-only', errorPolicy: 'all' });
    const list = element('products');
    const products = (result.data as { products?: Array<{ name: string; price: number; reviews: unknown[] }> } | undefined)?.products ?? [];
    list.replaceChildren(
      ...products.map((product) => {
        const item = document.createElement('li');
        item.textContent = `${product.name}: ${product.price} (${product.reviews.length} reviews)`;
        return item;
      }),
    );
  }

  element<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const email = element<HTMLInputElement>('email').value;
    const password = element<HTMLInputElement>('password').value;
    setStatus('Signing in…');
    void client.mutate({ mutation: LOGIN, variables: { email, password }, errorPolicy: 'all' }).then(async (result) => {
      if (result.error || !result.data) {
        setStatus(`Sign-in failed: ${codeOf(result.error)}`);
        return;
      }
      element<HTMLInputElement>('password').value = '';
      // Signed in, yet `me` refused: the browser did not keep (or send) the session cookies, which happens
      // when this app and the gateway are on different sites (e.g. localhost and 127.0.0.1).
      if (!(await showSignedIn())) showSignedOut('Signed in, but the browser kept no session cookie: serve this app from the same site as the gateway.');
    });
  });

  element('reload').addEventListener('click', () => void loadPanels());

  element('logout').addEventListener('click', () => {
    void client.mutate({ mutation: LOGOUT, errorPolicy: 'all' }).then(async () => {
      await client.clearStore();
      showSignedOut('Signed out.');
    });
  });

  void loadCatalogue();
  if (!(await showSignedIn())) showSignedOut('Signed out. Sign in to see your data.');
}

void main().catch((error: unknown) => setStatus(`The app failed to start: ${error instanceof Error ? error.message : String(error)}`));
