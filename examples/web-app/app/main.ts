/**
 * The page: sign in, show what the gateway lets this user see, reload it all at once, sign out. Its settings
 * (the gateway's URL, whether the shop upstream is behind it) come from /config.json on this app's own origin,
 * so the bundle has no inline script and no build-time URL.
 */
import './style.css';
import { CombinedGraphQLErrors, gql, type DocumentNode } from '@apollo/client';
import { createClient as createLiveClient, type Client as LiveClient } from 'graphql-ws';
import { startAuthentication, startRegistration, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import {
  createGatewayClient,
  LOGIN,
  LOGIN_WITH_PASSKEY,
  LOGOUT,
  PASSKEY_LOGIN_OPTIONS,
  PASSKEY_REGISTRATION_OPTIONS,
  REGISTER_PASSKEY,
  VERIFY_SECOND_FACTOR,
  type GatewayClient,
} from './client.js';

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

/** The gateway's sign-in providers (OpenID Connect), public: one button each. */
const SIGN_IN_PROVIDERS = gql`
  query SignInProviders {
    signInProviders {
      name
      label
      startUrl
    }
  }
`;

/**
 * A sign-in through a provider ends back here, with `#error=<CODE>` when it failed (docs/sign-in.md). Read once
 * and removed from the address bar, so a reload does not show it again.
 */
function takeSignInError(): string | undefined {
  const code = /^#error=([A-Z_]+)$/.exec(window.location.hash)?.[1];
  if (window.location.hash !== '') history.replaceState(null, '', window.location.pathname + window.location.search);
  return code;
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

function setStatus(text: string): void {
  element('status').textContent = text;
}

/** The challenge of an MFA_REQUIRED answer, if that is what came back. */
function mfaChallengeOf(error: unknown): string | undefined {
  if (!CombinedGraphQLErrors.is(error)) return undefined;
  const extensions = error.errors[0]?.extensions;
  return extensions?.['code'] === 'MFA_REQUIRED' && typeof extensions['challenge'] === 'string' ? extensions['challenge'] : undefined;
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
    element('second-factor-form').hidden = true;
    element('login-form').hidden = false;
    element('providers').hidden = false;
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
    element('providers').hidden = true;
    element('second-factor-form').hidden = true;
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
      const challenge = mfaChallengeOf(result.error);
      if (challenge) {
        // The password was right; the account has a second factor: ask for a code.
        element<HTMLInputElement>('password').value = '';
        element('login-form').hidden = true;
        element('second-factor-form').hidden = false;
        element('second-factor-form').dataset['challenge'] = challenge;
        setStatus('Enter the code from your authenticator app (or a recovery code).');
        return;
      }
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

  async function loadProviders(): Promise<void> {
    const result = await client.query({ query: SIGN_IN_PROVIDERS, fetchPolicy: 'network-only', errorPolicy: 'all' });
    const providers = (result.data as { signInProviders?: Array<{ name: string; label: string; startUrl: string }> } | undefined)?.signInProviders ?? [];
    element('providers').replaceChildren(
      ...providers.map((provider) => {
        // A plain link: the whole flow is top-level navigations, back to this page (its origin is in the
        // gateway's ALLOWED_ORIGINS, so it is an allowed returnTo).
        const link = document.createElement('a');
        link.className = 'provider';
        link.dataset['provider'] = provider.name;
        link.href = `${provider.startUrl}?returnTo=${encodeURIComponent(window.location.origin + window.location.pathname)}`;
        link.textContent = `Sign in with ${provider.label}`;
        return link;
      }),
    );
  }
  element<HTMLFormElement>('second-factor-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = element('second-factor-form');
    const code = element<HTMLInputElement>('second-factor-code').value;
    void client
      .mutate({ mutation: VERIFY_SECOND_FACTOR, variables: { challenge: form.dataset['challenge'] ?? '', code }, errorPolicy: 'all' })
      .then(async (result) => {
        element<HTMLInputElement>('second-factor-code').value = '';
        if (result.error || !result.data) {
          const failure = codeOf(result.error);
          // A spent or exhausted challenge cannot be answered again: back to the password.
          if (failure === 'MFA_CHALLENGE_INVALID') showSignedOut('That sign-in attempt has ended. Sign in again.');
          else setStatus(`Second factor refused: ${failure}`);
          return;
        }
        if (!(await showSignedIn())) showSignedOut('Signed in, but the browser kept no session cookie: serve this app from the same site as the gateway.');
      });
  });

  element('passkey-login').addEventListener('click', () => {
    setStatus('Signing in with a passkey…');
    void (async (): Promise<void> => {
      const options = await client.mutate({ mutation: PASSKEY_LOGIN_OPTIONS, errorPolicy: 'all' });
      if (options.error || !options.data) {
        setStatus(`Passkey sign-in failed: ${codeOf(options.error)}`);
        return;
      }
      let response: unknown;
      try {
        response = await startAuthentication({ optionsJSON: options.data.passkeyLoginOptions as PublicKeyCredentialRequestOptionsJSON });
      } catch (error) {
        setStatus(`Passkey sign-in cancelled: ${error instanceof Error ? error.name : 'ERROR'}`);
        return;
      }
      const result = await client.mutate({ mutation: LOGIN_WITH_PASSKEY, variables: { response }, errorPolicy: 'all' });
      if (result.error || !result.data) {
        setStatus(`Passkey sign-in failed: ${codeOf(result.error)}`);
        return;
      }
      if (!(await showSignedIn())) showSignedOut('Signed in, but the browser kept no session cookie: serve this app from the same site as the gateway.');
    })();
  });

  element('add-passkey').addEventListener('click', () => {
    void (async (): Promise<void> => {
      const options = await client.mutate({ mutation: PASSKEY_REGISTRATION_OPTIONS, errorPolicy: 'all' });
      if (options.error || !options.data) {
        setStatus(`Adding a passkey failed: ${codeOf(options.error)}`);
        return;
      }
      let response: unknown;
      try {
        response = await startRegistration({ optionsJSON: options.data.passkeyRegistrationOptions as PublicKeyCredentialCreationOptionsJSON });
      } catch (error) {
        setStatus(`Adding a passkey was cancelled: ${error instanceof Error ? error.name : 'ERROR'}`);
        return;
      }
      const added = await client.mutate({ mutation: REGISTER_PASSKEY, variables: { response, name: 'This browser' }, errorPolicy: 'all' });
      if (added.error || !added.data) setStatus(`Adding a passkey failed: ${codeOf(added.error)}`);
      else setStatus(`Passkey "${added.data.registerPasskey.name}" added.`);
    })();
  });

  element('reload').addEventListener('click', () => void loadPanels());

  element('logout').addEventListener('click', () => {
    // Close the live socket first: the gateway closes it with 4403 the moment the session ends, which can reach
    // the page before the Logout answer does and would then read as "your session has ended", not "signed out".
    stopLiveReviews();
    void client.mutate({ mutation: LOGOUT, errorPolicy: 'all' }).then(async () => {
      await client.clearStore();
      showSignedOut('Signed out.');
    });
  });

  const signInError = takeSignInError();
  void loadCatalogue();
  void loadProviders();
  if (!(await showSignedIn())) showSignedOut(signInError ? `Sign-in failed: ${signInError}` : 'Signed out. Sign in to see your data.');
}

void main().catch((error: unknown) => setStatus(`The app failed to start: ${error instanceof Error ? error.message : String(error)}`));
