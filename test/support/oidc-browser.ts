/**
 * A browser for the sign-in flow by plain HTTP: fetch with manual redirects and a cookie jar per host (paths and
 * Secure are not modelled: every cookie of a host goes to that host). It signs in at oidc-provider's own
 * development login and consent pages.
 */
export class HttpBrowser {
  readonly #jar = new Map<string, Map<string, string>>();

  cookie(host: string, name: string): string | undefined {
    return this.#jar.get(host)?.get(name);
  }

  setCookie(host: string, name: string, value: string | undefined): void {
    const cookies = this.#jar.get(host) ?? new Map<string, string>();
    if (value === undefined) cookies.delete(name);
    else cookies.set(name, value);
    this.#jar.set(host, cookies);
  }

  cookieHeader(url: string): string {
    const cookies = this.#jar.get(new URL(url).host);
    return cookies ? [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') : '';
  }

  /** One request, no redirect followed; Set-Cookie lands in the jar. */
  async request(url: string, init: { method?: string; body?: URLSearchParams } = {}): Promise<Response> {
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: { cookie: this.cookieHeader(url), ...(init.body && { 'content-type': 'application/x-www-form-urlencoded' }) },
      ...(init.body && { body: init.body.toString() }),
    });
    const host = new URL(url).host;
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals).trim();
      const value = pair.slice(equals + 1).trim();
      const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute)) || value === '';
      this.setCookie(host, name, expired ? undefined : value);
    }
    return response;
  }

  /** Follows redirects until one leaves for `stopAt` (an origin) or a page answers; returns that URL or page. */
  async follow(url: string, stopAt: string): Promise<{ url: string; response: Response | undefined }> {
    let current = url;
    for (let hops = 0; hops < 20; hops++) {
      if (current.startsWith(stopAt)) return { url: current, response: undefined };
      const response = await this.request(current);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) return { url: current, response };
      current = new URL(location, current).href;
    }
    throw new Error('too many redirects');
  }

  /**
   * From a gateway start URL to the provider's redirect back to the gateway: logs in as `account` and consents.
   * Returns the callback URL (code, state, iss), not yet visited, and the authorization URL the gateway built.
   */
  async signInAtProvider(startUrl: string, account: string): Promise<{ callbackUrl: string; authorizationUrl: string }> {
    const gatewayOrigin = new URL(startUrl).origin;
    const start = await this.request(startUrl);
    const authorizationUrl = start.headers.get('location');
    if (start.status !== 302 || authorizationUrl === null) throw new Error(`start answered ${start.status} ${authorizationUrl ?? ''}`);
    let step = await this.follow(authorizationUrl, gatewayOrigin);
    for (let pages = 0; step.response && pages < 4; pages++) {
      const html = await step.response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !prompt) throw new Error(`unexpected provider page (${step.response.status}): ${html.slice(0, 300)}`);
      const body = new URLSearchParams({ prompt });
      if (prompt === 'login') {
        body.set('login', account);
        body.set('password', 'any');
      }
      const submitted = await this.request(new URL(action.replaceAll('&amp;', '&'), step.url).href, { method: 'POST', body });
      const location = submitted.headers.get('location');
      if (location === null) throw new Error(`the provider's form answered ${submitted.status}`);
      step = await this.follow(new URL(location, step.url).href, gatewayOrigin);
    }
    if (step.response) throw new Error('the provider never redirected back');
    return { callbackUrl: step.url, authorizationUrl };
  }

  /** Visits a gateway URL (the callback) and returns where it sends the browser. */
  async visit(url: string): Promise<{ status: number; location: string }> {
    const response = await this.request(url);
    return { status: response.status, location: response.headers.get('location') ?? '' };
  }
}
