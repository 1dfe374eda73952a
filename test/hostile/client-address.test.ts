import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountDelaySeconds, LOGIN_LIMITS } from '../../src/auth/login-throttle.js';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { testConfig } from '../support/config.js';
import { countingHasher } from '../support/counting-hasher.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { firstCode, LOGIN, PASSWORD, postGraphQL, type RawResponse } from './support.js';

const PAIR_POINTS = LOGIN_LIMITS.pair[0]?.points ?? 5;
const WRONG = 'not the password at all';
const LOGIN_FOR_TOKEN = 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }';

function loginVia(gateway: TestGateway, email: string, password: string, forwardedFor?: string): Promise<RawResponse> {
  return postGraphQL(gateway.url, { query: LOGIN, variables: { email, password } }, forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor });
}

async function sessionAddressAfterLogin(gateway: TestGateway, email: string, forwardedFor: string): Promise<unknown> {
  const login = await postGraphQL(gateway.url, { query: LOGIN_FOR_TOKEN, variables: { email, password: PASSWORD } }, { 'x-forwarded-for': forwardedFor });
  const token = (login.json?.data as { login: { accessToken: string } }).login.accessToken;
  const sessions = await postGraphQL(gateway.url, { query: '{ mySessions { clientAddress current } }' }, { authorization: `Bearer ${token}` });
  const list = (sessions.json?.data as { mySessions: Array<{ clientAddress: string | null; current: boolean }> }).mySessions;
  return list.find((session) => session.current)?.clientAddress;
}

describe('behind trusted proxies (TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8: the test client is the outer proxy)', () => {
  let gateway: TestGateway;
  const passwords = countingHasher();

  beforeAll(async () => {
    gateway = await startGateway({ config: testConfig({ TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8' }), app: { passwords } });
    for (const name of ['ada', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'victim']) {
      await gateway.createUser({ email: `${name}@example.com`, password: PASSWORD });
    }
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  const login = (email: string, password: string, forwardedFor?: string): Promise<RawResponse> => loginVia(gateway, email, password, forwardedFor);

  it('gives each forwarded client a budget of its own: one exhausted, another still signs in', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(firstCode(await login('ada@example.com', WRONG, '203.0.113.10'))).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(firstCode(await login('ada@example.com', PASSWORD, '203.0.113.10'))).toBe(ErrorCode.RATE_LIMITED);
    expect((await login('ada@example.com', PASSWORD, '203.0.113.11')).setCookies).toHaveLength(2);
  });

  it('reads the client the proxy saw (the right end), so a client cannot choose its address by sending X-Forwarded-For', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) {
      // The client wrote the first entry; the proxy appended the address it really saw.
      expect(firstCode(await login('bob@example.com', WRONG, `198.51.100.${attempt + 1}, 203.0.113.20`))).toBe(ErrorCode.INVALID_CREDENTIALS);
    }
    expect(firstCode(await login('bob@example.com', PASSWORD, '198.51.100.99, 203.0.113.20'))).toBe(ErrorCode.RATE_LIMITED);
  });

  it('keys an IPv6 client by its /64: rotating addresses inside it buys nothing, another /64 is apart', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) {
      expect(firstCode(await login('carol@example.com', WRONG, `2001:db8:1:2::${attempt + 1}`))).toBe(ErrorCode.INVALID_CREDENTIALS);
    }
    expect(firstCode(await login('carol@example.com', PASSWORD, '2001:db8:1:2:ffff:ffff:ffff:abcd'))).toBe(ErrorCode.RATE_LIMITED);
    expect((await login('carol@example.com', PASSWORD, '2001:db8:1:3::1')).setCookies).toHaveLength(2);
  });

  it('keys an IPv4-mapped IPv6 client as its IPv4 address', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) expect(firstCode(await login('dave@example.com', WRONG, '::ffff:203.0.113.30'))).toBe(ErrorCode.INVALID_CREDENTIALS);
    expect(firstCode(await login('dave@example.com', PASSWORD, '203.0.113.30'))).toBe(ErrorCode.RATE_LIMITED);
  });

  it("lists the forwarded client's network in the session list, coarsened (/24, /48)", async () => {
    expect(await sessionAddressAfterLogin(gateway, 'erin@example.com', '203.0.113.77')).toBe('203.0.113.0/24');
    expect(await sessionAddressAfterLogin(gateway, 'erin@example.com', '2001:db8:abcd:12::5')).toBe('2001:db8:abcd::/48');
  });

  it('skips every trusted proxy in the chain, and stops at the first address that is not one', async () => {
    // client → 10.1.2.3 (inner proxy, trusted) → 127.0.0.1 (outer proxy, trusted) → gateway.
    expect(await sessionAddressAfterLogin(gateway, 'erin@example.com', '203.0.113.5, 10.1.2.3')).toBe('203.0.113.0/24');
    // A client that claims to be behind one of the proxies gains nothing: the entry it wrote is never reached.
    expect(await sessionAddressAfterLogin(gateway, 'erin@example.com', '10.9.9.9, 198.51.100.9, 10.1.2.3')).toBe('198.51.100.0/24');
  });

  describe('one auth mutation per operation', () => {
    const refused = async (query: string, path = '/graphql'): Promise<void> => {
      const before = passwords.evaluated();
      const response = await postGraphQL(gateway.url, { query }, { 'x-forwarded-for': '203.0.113.40' }, path);
      expect(response.status).toBe(400);
      expect(firstCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.json?.errors).toHaveLength(1);
      expect(response.setCookies).toEqual([]);
      // Refused before any field ran: not one password was checked.
      expect(passwords.evaluated()).toBe(before);
    };
    const guess = (alias: string, password: string): string => `${alias}: login(email: "frank@example.com", password: "${password}") { user { id } }`;

    it('refuses two aliased logins in one operation (two guesses for one request)', async () => {
      await refused(`mutation { ${guess('a', WRONG)} ${guess('b', PASSWORD)} }`);
      await refused(`mutation { ${Array.from({ length: 16 }, (_, index) => guess(`g${index}`, `${WRONG} ${index}`)).join(' ')} }`);
    });

    it('refuses auth mutations side by side, at either endpoint', async () => {
      await refused(`mutation { ${guess('a', PASSWORD)} logout }`, AUTH_PATH);
      await refused('mutation { refresh { user { id } } logout }', AUTH_PATH);
      await refused(`mutation { signUp(email: "new@example.com", password: "${PASSWORD}") ${guess('l', PASSWORD)} }`);
    });

    it('counts through fragments and inline fragments', async () => {
      await refused(`mutation { ...A ... on Mutation { ${guess('b', WRONG)} } } fragment A on Mutation { ${guess('a', WRONG)} }`);
    });

    it('answers one login as before', async () => {
      const response = await postGraphQL(gateway.url, { query: `mutation { ${guess('only', PASSWORD)} }` }, { 'x-forwarded-for': '203.0.113.41' });
      expect(response.json?.errors).toBeUndefined();
      expect(response.setCookies).toHaveLength(2);
    });
  });

  it('slows guessing at one account spread over many addresses (RATE_LIMITED, retryAfterSeconds), while its owner still signs in from their usual address', async () => {
    // The owner signed in from home before.
    expect((await login('victim@example.com', PASSWORD, '198.51.100.7')).setCookies).toHaveLength(2);
    const free = LOGIN_LIMITS.account.points;
    // Every guess from an address of its own: no per-address or per-pair limit is anywhere near.
    for (let attempt = 0; attempt < free; attempt++) {
      expect(firstCode(await login('victim@example.com', WRONG, `192.0.2.${attempt + 1}`))).toBe(ErrorCode.INVALID_CREDENTIALS);
    }
    // Three more at once, all begun before the first is counted: the account then waits 2, 4 or 8 s (whichever
    // failure was written last), long enough for the next request on a busy machine.
    const over = await Promise.all([1, 2, 3].map((index) => login('victim@example.com', WRONG, `192.0.2.${100 + index}`)));
    expect(over.map(firstCode)).toEqual([ErrorCode.INVALID_CREDENTIALS, ErrorCode.INVALID_CREDENTIALS, ErrorCode.INVALID_CREDENTIALS]);
    const slowed = await login('victim@example.com', PASSWORD, '192.0.2.200');
    expect(firstCode(slowed)).toBe(ErrorCode.RATE_LIMITED);
    expect(slowed.json?.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeGreaterThanOrEqual(1);
    expect(slowed.json?.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeLessThanOrEqual(accountDelaySeconds(free + 3));
    expect(slowed.setCookies).toEqual([]);
    // Not a lock: the owner, from the address they signed in from before, is not slowed.
    expect((await login('victim@example.com', PASSWORD, '198.51.100.7')).setCookies).toHaveLength(2);
  });
});

describe('without TRUSTED_PROXIES', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startGateway();
    for (const name of ['ada', 'bob']) await gateway.createUser({ email: `${name}@example.com`, password: PASSWORD });
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('ignores X-Forwarded-For: a client that sends a new one on every guess is still one client', async () => {
    for (let attempt = 0; attempt < PAIR_POINTS; attempt++) {
      expect(firstCode(await loginVia(gateway, 'ada@example.com', WRONG, `203.0.113.${attempt + 1}`))).toBe(ErrorCode.INVALID_CREDENTIALS);
    }
    expect(firstCode(await loginVia(gateway, 'ada@example.com', PASSWORD, '203.0.113.250'))).toBe(ErrorCode.RATE_LIMITED);
  });

  it('lists the socket address, not the header, in the session list', async () => {
    expect(await sessionAddressAfterLogin(gateway, 'bob@example.com', '203.0.113.77')).toBe('127.0.0.0/24');
  });
});
