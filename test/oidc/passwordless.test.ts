/**
 * An account created through a provider has no password until its owner sets one through the reset flow (real
 * mail, read from an SMTP server in this process); the password then becomes a second way in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { AUTH_PATH } from '../../src/http/cookies.js';
import { LoginDocument, MySignInMethodsDocument, RequestPasswordResetDocument, ResetPasswordDocument, UnlinkSignInProviderDocument } from '../generated/operations.js';
import { linkIn, startMailbox, type Mailbox } from '../support/mailbox.js';
import { HttpBrowser } from '../support/oidc-browser.js';
import { sessionCookieHeader, startWithProviders, type Setup } from './support.js';

const NEW_PASSWORD = 'a brand new passphrase';

describe('an account created through a provider', () => {
  let mailbox: Mailbox;
  let setup: Setup;

  beforeAll(async () => {
    mailbox = await startMailbox();
    setup = await startWithProviders(['corp'], { SMTP_URL: mailbox.url, MAIL_FROM: 'Portcullis <no-reply@portcullis.test>' });
  });
  afterAll(async () => {
    await setup?.stop();
    await mailbox?.stop();
  });

  it('has no password until one is set through the reset flow, which then counts as a way in', async () => {
    const { gateway } = setup;
    const browser = new HttpBrowser();
    const { callbackUrl } = await browser.signInAtProvider(`${gateway.url}/auth/oidc/corp/start`, 'alice');
    await browser.visit(callbackUrl);
    const cookie = sessionCookieHeader(browser, gateway);
    const before = await gateway.request(MySignInMethodsDocument, {}, { cookie });
    expect(before.body.data?.me.signInMethods.map((method) => method.kind)).toEqual(['OIDC']);
    const refused = await gateway.request(LoginDocument, { email: 'alice@corp.example', password: NEW_PASSWORD });
    expect(refused.body.errors?.[0]?.extensions?.['code']).toBe(ErrorCode.INVALID_CREDENTIALS);

    const arriving = mailbox.next('alice@corp.example');
    await gateway.request(RequestPasswordResetDocument, { email: 'alice@corp.example' }, { path: AUTH_PATH });
    const { token } = linkIn(await arriving);
    const reset = await gateway.request(ResetPasswordDocument, { token, newPassword: NEW_PASSWORD }, { path: AUTH_PATH });
    expect(reset.body.errors).toBeUndefined();

    const login = await gateway.request(LoginDocument, { email: 'alice@corp.example', password: NEW_PASSWORD });
    expect(login.body.errors).toBeUndefined();
    const access = login.setCookies.map((line) => line.split(';')[0]).find((pair) => pair?.startsWith('__Host-portcullis-access=')) ?? '';
    const after = await gateway.request(MySignInMethodsDocument, {}, { cookie: access });
    expect(after.body.data?.me.signInMethods.map((method) => method.kind)).toEqual(['PASSWORD', 'OIDC']);
    const unlinked = await gateway.request(UnlinkSignInProviderDocument, { provider: 'corp' }, { cookie: access });
    expect(unlinked.body.errors).toBeUndefined();
  });
});
