/**
 * The second-factor rules of issue 18 hold over a socket as they do at /graphql: `@authorized(mfa: true)` on an
 * upstream subscription admits a session that proved a second factor and refuses a password-only one, and a
 * session that must first enroll one (MFA_REQUIRED_ROLES) opens nothing upstream. Real gateway, the real example
 * shop, real graphql-ws clients.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstreamService, UPSTREAM_SDL, type UpstreamService } from '../../examples/upstream-service.js';
import { randomSecret, testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { eventually, send } from '../gateway/support.js';
import { identityKeyOf } from '../upstream/support.js';
import { liveClient, subscribe } from './support.js';

const PASSWORD = 'correct horse battery staple';
const REVIEWS = 'subscription { reviewAdded(productId: "p1") { id text } }';
const ORDERS = 'subscription { orderPlaced { id total } }';

/** The shop's schema as the operator gives it to the gateway, with orders demanding a second factor. */
const MFA_SDL = UPSTREAM_SDL.replace('directive @authorized(roles: [String!])', 'directive @authorized(roles: [String!], mfa: Boolean)').replace(
  'orderPlaced: Order! @authorized(roles: ["ADMIN"])',
  'orderPlaced: Order! @authorized(roles: ["ADMIN"], mfa: true)',
);

describe('second-factor rules on live subscriptions', () => {
  const secret = randomSecret();
  let shop: UpstreamService;
  let gateway: TestGateway;
  let folder: string;

  beforeAll(async () => {
    expect(MFA_SDL).toContain('mfa: true');
    folder = await mkdtemp(join(tmpdir(), 'portcullis-live-mfa-'));
    const schemaFile = join(folder, 'shop.graphql');
    await writeFile(schemaFile, MFA_SDL);
    shop = await startUpstreamService({ gateway: { secret: await identityKeyOf(secret, 'shop') }, audience: 'shop' });
    gateway = await startGateway({
      config: testConfig({ JWT_SECRET: secret, UPSTREAMS: `shop=${shop.url}`, UPSTREAM_SCHEMA_SHOP: schemaFile, ROLES: 'EDITOR', MFA_REQUIRED_ROLES: 'EDITOR' }),
    });
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 30_000);
  }, 60_000);
  afterAll(async () => {
    await gateway?.stop();
    await shop?.stop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  async function passwordToken(email: string, roles: string[]): Promise<string> {
    await gateway.createUser({ email, password: PASSWORD, roles });
    const answer = await send(gateway.url, 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
      variables: { email, password: PASSWORD },
    });
    const token = (answer.body.data?.['login'] as { accessToken?: string } | undefined)?.accessToken;
    if (!token) throw new Error(JSON.stringify(answer.body));
    return token;
  }

  /** Enrolls TOTP through the gateway (codes computed here from the enrolled secret) and signs in with it. */
  async function multiFactorToken(roles: string[]): Promise<string> {
    const email = `mfa-${randomBytes(4).toString('hex')}@example.com`;
    const first = await passwordToken(email, roles);
    const begun = await send(gateway.url, 'mutation { beginTotpEnrollment { secret } }', { token: first });
    const totp = new TOTP({ secret: Secret.fromBase32((begun.body.data?.['beginTotpEnrollment'] as { secret: string }).secret) });
    const step = Math.floor(Date.now() / 30_000);
    await send(gateway.url, 'mutation($code: String!) { confirmTotpEnrollment(code: $code) }', { token: first, variables: { code: totp.generate({ timestamp: step * 30_000 }) } });
    const login = await send(gateway.url, 'mutation($email: String!, $password: String!) { login(email: $email, password: $password, delivery: BODY) { accessToken } }', {
      variables: { email, password: PASSWORD },
    });
    expect(login.body.errors?.[0]?.extensions?.['code']).toBe('MFA_REQUIRED');
    // The next step's code: the confirming one is spent.
    const verified = await send(gateway.url, 'mutation($challenge: String!, $code: String!) { verifySecondFactor(challenge: $challenge, code: $code, delivery: BODY) { accessToken } }', {
      variables: { challenge: login.body.errors?.[0]?.extensions?.['challenge'], code: totp.generate({ timestamp: (step + 1) * 30_000 }) },
    });
    const token = (verified.body.data?.['verifySecondFactor'] as { accessToken?: string } | undefined)?.accessToken;
    if (!token) throw new Error(`second factor failed: ${JSON.stringify(verified.body)}`);
    return token;
  }

  it('refuses a password-only session a subscription that demands a second factor, FORBIDDEN / MFA_REQUIRED, opening nothing upstream', async () => {
    const token = await passwordToken(`pwd-${randomBytes(4).toString('hex')}@example.com`, ['USER', 'ADMIN']);
    const before = shop.resolved.get('Subscription.orderPlaced') ?? 0;
    const live = liveClient(gateway.url, { token });
    const answer = await subscribe(live, ORDERS).next();
    expect(answer.errors?.[0]?.extensions?.['code']).toBe('FORBIDDEN');
    expect(answer.errors?.[0]?.extensions?.['reason']).toBe('MFA_REQUIRED');
    expect(shop.resolved.get('Subscription.orderPlaced') ?? 0).toBe(before);
    await live.dispose();
  });

  it('opens it upstream for a session that signed in with a second factor', async () => {
    const token = await multiFactorToken(['USER', 'ADMIN']);
    const live = liveClient(gateway.url, { token });
    const orders = subscribe(live, ORDERS);
    await eventually(() => shop.live.active === 1);
    expect(orders.events).toEqual([]);
    await live.dispose();
    await eventually(() => shop.live.active === 0);
  });

  it('keeps a session that must first enroll a second factor from every upstream subscription (MFA_ENROLLMENT_REQUIRED)', async () => {
    const token = await passwordToken(`editor-${randomBytes(4).toString('hex')}@example.com`, ['EDITOR']);
    const before = shop.resolved.get('Subscription.reviewAdded') ?? 0;
    const live = liveClient(gateway.url, { token });
    const answer = await subscribe(live, REVIEWS).next();
    expect(answer.errors?.[0]?.extensions?.['code']).toBe('MFA_ENROLLMENT_REQUIRED');
    expect(shop.resolved.get('Subscription.reviewAdded') ?? 0).toBe(before);
    await live.dispose();
  });
});
