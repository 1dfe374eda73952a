/**
 * Where the browser may be sent after a sign-in: a path on the gateway's own origin, or a URL on an origin in
 * ALLOWED_ORIGINS. Anything else (`//evil.example`, `https://evil.example`, `/\evil.example`, `javascript:`,
 * control characters) becomes `/`: the callback must never be an open redirect.
 */
export function safeReturnTo(requested: unknown, ownOrigin: string, allowedOrigins: readonly string[]): string {
  if (typeof requested !== 'string' || requested === '' || requested.length > 2048) return '/';
  // Browsers strip tabs and newlines and read `\` as `/`, so `/\evil.example` is `//evil.example` to them.
  if (/[\u0000-\u001f\u007f\\]/.test(requested)) return '/';
  if (requested.startsWith('/')) {
    if (requested.startsWith('//')) return '/';
    let url: URL;
    try {
      url = new URL(requested, ownOrigin);
    } catch {
      return '/';
    }
    return url.origin === ownOrigin ? `${url.pathname}${url.search}` : '/';
  }
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return '/';
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') return '/';
  if (url.origin !== ownOrigin && !allowedOrigins.includes(url.origin)) return '/';
  // The fragment is ours to set (#error=…).
  url.hash = '';
  return url.href;
}

/** `returnTo` with the outcome's error code in the fragment, which never reaches a server log. */
export function withError(returnTo: string, code: string): string {
  return `${returnTo}#error=${encodeURIComponent(code)}`;
}
