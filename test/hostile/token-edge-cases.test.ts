import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, TokenRejection } from '../../src/errors.js';
import { MAX_ACCESS_TOKEN_LENGTH } from '../../src/tokens/access-token.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { liveKid, PASSWORD, postGraphQL, signRaw, type RawResponse } from './support.js';

const START_MS = Math.floor(Date.now() / 1000) * 1000;
let clock = START_MS;
const nowSeconds = (): number => Math.floor(clock / 1000);

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The same segment with the lowest (unused, when the length is not a multiple of 4) bit of its last character set. */
const withTrailingBit = (segment: string): string => `${segment.slice(0, -1)}${BASE64URL[BASE64URL.indexOf(segment.at(-1) ?? 'A') | 1]}`;

type Pairs = ReadonlyArray<readonly [string, string]>;
/** JSON object text from name/raw-JSON pairs, in order, duplicates kept. */
const objectText = (pairs: Pairs): string => `{${pairs.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`;

describe('access-token edge cases over HTTP', () => {
  let gateway: TestGateway;
  let ada: { id: string };
  let bob: { id: string };
  let kid: string;

  beforeAll(async () => {
    gateway = await startGateway({ app: { now: () => clock } });
    ada = await gateway.createUser({ email: 'ada@example.com', password: PASSWORD });
    bob = await gateway.createUser({ email: 'bob@example.com', password: PASSWORD });
    kid = await liveKid(gateway);
  });
  afterAll(async () => {
    await gateway?.stop();
  });
  beforeEach(() => {
    clock = START_MS;
  });

  const header = (extra: Pairs = []): Pairs => [['alg', '"HS256"'], ['typ', '"at+jwt"'], ['kid', JSON.stringify(kid)], ...extra];
  /** The claims the gateway issues, for Ada, as raw JSON values; `extra` is appended (so a repeated name comes last). */
  const claims = (extra: Pairs = [], replace: Record<string, string> = {}): Pairs => {
    const base: Record<string, string> = {
      sub: JSON.stringify(ada.id),
      sid: JSON.stringify(`session-${randomBytes(4).toString('hex')}`),
      jti: JSON.stringify(`token-${randomBytes(6).toString('hex')}`),
      roles: '["USER"]',
      iss: JSON.stringify(gateway.config.tokens.issuer),
      aud: JSON.stringify(gateway.config.tokens.audience),
      iat: String(nowSeconds()),
      exp: String(nowSeconds() + gateway.config.tokens.accessTokenTtlSeconds),
      ...replace,
    };
    return [...Object.entries(base), ...extra];
  };
  const token = (headerPairs: Pairs = header(), claimPairs: Pairs = claims()): string => signRaw(gateway, objectText(headerPairs), objectText(claimPairs));

  const ask = (accessToken: string, query = '{ me { email } }'): Promise<RawResponse> => postGraphQL(gateway.url, { query }, { authorization: `Bearer ${accessToken}` });
  async function expectRefused(accessToken: string, reason: TokenRejection): Promise<void> {
    const response = await ask(accessToken, '{ me { email } currentSession { accessTokenExpiresAt } }');
    expect(response.status).toBe(200);
    expect(response.json?.data).toBeNull();
    for (const error of response.json?.errors ?? []) expect(error.extensions).toEqual({ code: ErrorCode.UNAUTHENTICATED, reason });
  }
  async function expectAccepted(accessToken: string, email = 'ada@example.com'): Promise<void> {
    const response = await ask(accessToken, '{ me { email } currentSession { accessTokenExpiresAt } }');
    expect(response.json?.errors).toBeUndefined();
    expect((response.json?.data as { me: { email: string } }).me.email).toBe(email);
  }

  it('accepts a hand-built token with the issued header and claims under the gateway secret (control for every case below)', async () => {
    await expectAccepted(token());
  });

  describe('duplicate JSON names', () => {
    it.each([
      ['alg: HS256 then none', [['alg', '"none"']]],
      ['alg: HS256 then HS512', [['alg', '"HS512"']]],
      ['alg: HS256 then RS256', [['alg', '"RS256"']]],
      ['kid: the live kid then an unknown one', [['kid', '"AAAAAAAAAAAAAAAA"']]],
      ['typ: at+jwt then JWT', [['typ', '"JWT"']]],
    ] as const)('refuses a header repeating %s: the earlier, valid value is not the one that counts', async (_name, extra) => {
      await expectRefused(token(header(extra)), TokenRejection.TOKEN_INVALID);
    });

    it('reads a repeated sub as its lexically last value (RFC 7519 §4), never the first: Ada-then-Bob is Bob', async () => {
      await expectAccepted(token(header(), claims([['sub', JSON.stringify(bob.id)]])), 'bob@example.com');
      await expectAccepted(token(header(), claims([], { sub: JSON.stringify(bob.id) }).concat([['sub', JSON.stringify(ada.id)]])), 'ada@example.com');
    });

    it('does not grant ADMIN from an earlier roles claim overridden by a later USER one', async () => {
      const response = await ask(token(header(), claims([['roles', '["USER"]']], { roles: '["ADMIN"]' })), '{ users { id } }');
      expect(response.json?.data).toBeNull();
      expect(response.json?.errors?.[0]?.extensions).toEqual({ code: ErrorCode.FORBIDDEN });
    });

    it('refuses a repeated exp whose last value is in the past (TOKEN_EXPIRED), and a repeated aud whose last value is foreign', async () => {
      await expectRefused(token(header(), claims([['exp', String(nowSeconds() - 3600)]])), TokenRejection.TOKEN_EXPIRED);
      await expectRefused(token(header(), claims([['aud', '"another-api"']])), TokenRejection.TOKEN_INVALID);
    });

    it('does not read roles through a "__proto__" member: own USER roles stay USER, and without own roles the token is refused', async () => {
      const polluted = await ask(token(header(), claims([['__proto__', '{"roles":["ADMIN"]}']])), '{ users { id } }');
      expect(polluted.json?.errors?.[0]?.extensions).toEqual({ code: ErrorCode.FORBIDDEN });
      const withoutOwn = claims([['__proto__', '{"roles":["ADMIN"],"sub":"x"}']]).filter(([name]) => name !== 'roles');
      await expectRefused(token(header(), withoutOwn), TokenRejection.TOKEN_INVALID);
    });
  });

  describe('bytes that are not UTF-8', () => {
    it.each([
      ['a 0xFF byte', [0xff]],
      ['an overlong encoding of "/"', [0xc0, 0xaf]],
      ['an encoded lone surrogate', [0xed, 0xa0, 0x80]],
      ['a truncated three-byte sequence', [0xe2, 0x82]],
    ])('refuses a payload whose sub holds %s (TOKEN_INVALID)', async (_name, bytes) => {
      const text = objectText(claims());
      const at = text.indexOf(ada.id) + ada.id.length;
      const payload = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at))]);
      await expectRefused(signRaw(gateway, objectText(header()), payload), TokenRejection.TOKEN_INVALID);
    });

    it('refuses a header holding a 0xFF byte in an extra parameter (TOKEN_INVALID)', async () => {
      const text = objectText(header([['x', '"y"']]));
      const at = text.lastIndexOf('y');
      const headerBytes = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff]), Buffer.from(text.slice(at))]);
      await expectRefused(signRaw(gateway, headerBytes, objectText(claims())), TokenRejection.TOKEN_INVALID);
    });
  });

  describe('non-canonical base64url', () => {
    it('refuses a genuine token whose signature has an unused trailing bit set: a second spelling of the same signature', async () => {
      const login = await postGraphQL(gateway.url, {
        query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p, delivery: BODY) { accessToken } }',
        variables: { e: 'ada@example.com', p: PASSWORD },
      });
      const genuine = (login.json?.data as { login: { accessToken: string } }).login.accessToken;
      const [head, payload, signature = ''] = genuine.split('.');
      // 32 bytes of HMAC are 43 characters: the last one carries 2 bits that decoders ignore.
      expect(signature.length % 4).toBe(3);
      const variant = `${head}.${payload}.${withTrailingBit(signature)}`;
      expect(variant).not.toBe(genuine);
      expect(Buffer.from(withTrailingBit(signature), 'base64url').equals(Buffer.from(signature, 'base64url'))).toBe(true);
      await expectAccepted(genuine);
      await expectRefused(variant, TokenRejection.TOKEN_INVALID);
    });

    it.each([
      ['the header', 0],
      ['the payload', 1],
    ])('refuses %s spelled with an unused trailing bit set, even under a valid HMAC of that spelling', async (_name, index) => {
      // Pad the JSON until its base64url form has unused bits (length not a multiple of 3 bytes).
      let headerText = objectText(header());
      let payloadText = objectText(claims());
      const target = index === 0 ? 'header' : 'payload';
      while ((target === 'header' ? headerText : payloadText).length % 3 === 0) {
        if (target === 'header') headerText = `${headerText.slice(0, -1)} }`;
        else payloadText = `${payloadText.slice(0, -1)} }`;
      }
      const parts = [Buffer.from(headerText).toString('base64url'), Buffer.from(payloadText).toString('base64url')];
      const canonical = `${parts.join('.')}.${createHmac('sha256', gateway.config.tokens.jwtSecret!.bytes()).update(parts.join('.')).digest('base64url')}`;
      await expectAccepted(canonical);
      parts[index] = withTrailingBit(parts[index] ?? '');
      const input = parts.join('.');
      await expectRefused(`${input}.${createHmac('sha256', gateway.config.tokens.jwtSecret!.bytes()).update(input).digest('base64url')}`, TokenRejection.TOKEN_INVALID);
    });

    it.each([
      ['padding on the header', (parts: string[]) => [`${parts[0]}=`, parts[1], parts[2]]],
      ['padding on the payload', (parts: string[]) => [parts[0], `${parts[1]}==`, parts[2]]],
      ['standard-base64 "+" and "/" for "-" and "_"', (parts: string[]) => parts.map((part) => part.replace(/-/g, '+').replace(/_/g, '/'))],
    ])('refuses a token re-spelled with %s', async (_name, respell) => {
      const original = token(header([['x', '"???>>>"']]));
      const respelled = respell(original.split('.')).join('.');
      expect(respelled).not.toBe(original);
      await expectRefused(respelled, TokenRejection.TOKEN_INVALID);
    });
  });

  describe('size and nesting', () => {
    /** A genuinely signed token of exactly `length` characters, padded through a `pad` claim and a header parameter. */
    function tokenOfLength(length: number): string {
      for (let headerPad = 0; headerPad < 4; headerPad++) {
        for (let pad = 0; pad < length; pad++) {
          const candidate = token(header([['p', JSON.stringify('h'.repeat(headerPad))]]), claims([['pad', JSON.stringify('x'.repeat(pad))]]));
          if (candidate.length === length) return candidate;
          if (candidate.length > length) break;
        }
      }
      throw new Error(`no token of length ${length}`);
    }

    it(`accepts a genuine token of exactly MAX_ACCESS_TOKEN_LENGTH (${MAX_ACCESS_TOKEN_LENGTH}) characters and refuses one of a character more`, async () => {
      await expectAccepted(tokenOfLength(MAX_ACCESS_TOKEN_LENGTH));
      await expectRefused(tokenOfLength(MAX_ACCESS_TOKEN_LENGTH + 1), TokenRejection.TOKEN_INVALID);
    });

    const deep = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;

    it('answers a genuine token with a deeply nested extra claim without any server error (the claim is ignored)', async () => {
      const nested = token(header(), claims([['pad', deep(1400)]]));
      expect(nested.length).toBeLessThanOrEqual(MAX_ACCESS_TOKEN_LENGTH);
      await expectAccepted(nested);
    });

    it('refuses a genuine token whose roles are deeply nested arrays (TOKEN_INVALID)', async () => {
      await expectRefused(token(header(), claims([], { roles: deep(1400) })), TokenRejection.TOKEN_INVALID);
    });

    it('refuses a forged token with a deeply nested header, parsed before its signature is checked (TOKEN_INVALID, no server error)', async () => {
      const forged = `${Buffer.from(objectText(header([['x', deep(1400)]]))).toString('base64url')}.${Buffer.from(objectText(claims())).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      expect(forged.length).toBeLessThanOrEqual(MAX_ACCESS_TOKEN_LENGTH);
      await expectRefused(forged, TokenRejection.TOKEN_INVALID);
    });
  });

  describe('numeric edge values', () => {
    it.each([
      ['exp 0', { exp: '0' }, TokenRejection.TOKEN_EXPIRED],
      ['exp -1', { exp: '-1' }, TokenRejection.TOKEN_EXPIRED],
      ['exp 1e308', { exp: '1e308' }, TokenRejection.TOKEN_INVALID],
      ['exp 1e309 (Infinity once parsed)', { exp: '1e309' }, TokenRejection.TOKEN_INVALID],
      ['exp 2**53', { exp: String(2 ** 53) }, TokenRejection.TOKEN_INVALID],
      ['exp "NaN"', { exp: '"NaN"' }, TokenRejection.TOKEN_INVALID],
      ['exp null', { exp: 'null' }, TokenRejection.TOKEN_INVALID],
      ['exp as a numeric string', { exp: '"99999999999"' }, TokenRejection.TOKEN_INVALID],
      ['iat 1e308', { iat: '1e308' }, TokenRejection.TOKEN_INVALID],
      ['iat "NaN"', { iat: '"NaN"' }, TokenRejection.TOKEN_INVALID],
      ['nbf 1e308', { nbf: '1e308' }, TokenRejection.TOKEN_INVALID],
      ['nbf "NaN"', { nbf: '"NaN"' }, TokenRejection.TOKEN_INVALID],
    ])('refuses a genuinely signed token with %s', async (_name, replace, reason) => {
      await expectRefused(token(header(), claims([], replace)), reason);
    });

    it('honours a fractional exp to the half second, on the verified-token cache path too', async () => {
      const tolerance = gateway.config.tokens.clockToleranceSeconds;
      await expectRefused(token(header(), claims([], { exp: String(nowSeconds() - tolerance - 0.5) })), TokenRejection.TOKEN_EXPIRED);

      const live = token(header(), claims([], { exp: String(nowSeconds() - tolerance + 0.5) }));
      await expectAccepted(live);
      // Cached now; half a second later it has expired.
      clock = START_MS + 500;
      await expectRefused(live, TokenRejection.TOKEN_EXPIRED);
    });

    it('lets an iat in the far future buy no extra life: the token still expires at its exp', async () => {
      const exp = nowSeconds() + 60;
      const future = token(header(), claims([], { iat: String(nowSeconds() + 10 * 365 * 86_400), exp: String(exp) }));
      clock = (exp + gateway.config.tokens.clockToleranceSeconds) * 1000;
      await expectRefused(future, TokenRejection.TOKEN_EXPIRED);
    });
  });

  describe('crit', () => {
    it.each([
      ['an unknown extension that is present', [['crit', '["exp-policy"]'], ['exp-policy', '"never"']]],
      ['an unknown extension that is absent', [['crit', '["exp-policy"]']]],
      ['an empty list', [['crit', '[]']]],
      ['a string instead of a list', [['crit', '"exp-policy"']]],
      ['a registered parameter (alg)', [['crit', '["alg"]']]],
      ['b64 false (an unencoded payload)', [['crit', '["b64"]'], ['b64', 'false']]],
    ] as const)('refuses a genuinely signed token whose crit header is %s (TOKEN_INVALID)', async (_name, extra) => {
      await expectRefused(token(header(extra)), TokenRejection.TOKEN_INVALID);
    });
  });
});
