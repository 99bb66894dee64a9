// Email verification at the OIDC authorization step, with openid-client as the relying
// party and a real SMTP server (STARTTLS, throwaway CA): with "email addresses count as
// verified" off (the default), a user whose address is not verified is refused with a
// clear page, and signs in after clicking the link in the verification email.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { addVirtualAuthenticator, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { linkIn, startSmtp } from './lib/mail.mjs';
import { callbackServer, createClient, setupAdminWithPasskey } from './lib/rp.mjs';

describe('email verification before applications', () => {
  let smtp;
  let latchkey;
  let browser;
  let rp;

  before(async () => {
    smtp = await startSmtp();
    [latchkey, browser, rp] = await Promise.all([startLatchkey({ env: smtp.env }), launchBrowser(), callbackServer()]);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    await smtp?.stop();
    assert.equal(await latchkey?.stop(), 0);
  });

  test('an unverified user is refused at /authorize and gets in after the link', async () => {
    const admin = await browser.newPage();
    await addVirtualAuthenticator(admin);
    await setupAdminWithPasskey(admin, latchkey);

    // The admin creates Bob: a verification email goes to him.
    await admin.goto(`${latchkey.url}/admin/users/new`);
    await admin.getByLabel('Username').fill('bob');
    await admin.getByLabel('Email').fill('bob@example.org');
    await admin.getByLabel('First name').fill('Bob');
    await admin.getByRole('button', { name: 'Create user' }).click();
    await admin.waitForURL(/\/admin\/users\/[^/]+\?done=user_created/);
    const verification = await smtp.waitFor('bob@example.org', 'Confirm your email');
    // …and a login code with a one-click link, so that Bob can sign in.
    await admin.getByRole('button', { name: 'Email a login code' }).click();
    await admin.waitForURL(/done=login_code_sent/);
    const codeMail = await smtp.waitFor('bob@example.org', 'login code');

    const bobContext = await browser.browser.newContext();
    const bob = await bobContext.newPage();
    await bob.goto(linkIn(codeMail, `${latchkey.url}/login/code/`));
    await bob.getByRole('button', { name: /Continue as/ }).click();
    await bob.waitForURL(`${latchkey.url}/account`);
    assert.ok(await bob.locator('[data-unverified-banner]').isVisible(), 'the account page says the address is not verified');

    const registered = await createClient(latchkey, ['--name', 'Wiki', '--redirect-uri', `${rp.base}/cb`]);
    const config = await client.discovery(new URL(latchkey.url), registered.client_id, registered.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${rp.base}/cb`,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const refused = await bob.goto(url.href);
    assert.equal(refused.status(), 403);
    assert.equal(await bob.locator('h1').innerText(), 'Confirm your email address first');
    assert.match(await bob.locator('main').innerText(), /bob@example\.org/);
    assert.ok(!rp.seen.some((u) => u.startsWith('/cb')), 'no code went to the application');

    // The link in the email verifies the address; then the same request succeeds.
    // The link names the account and asks for a press: a mail scanner fetching it
    // verifies nothing.
    await bob.goto(linkIn(verification, `${latchkey.url}/verify-email/`));
    assert.equal(await bob.locator('h1').innerText(), 'Confirm your email address');
    await bob.getByRole('button', { name: /^Confirm / }).click();
    assert.equal(await bob.locator('h1').innerText(), 'Your email address is confirmed');
    await bob.goto(url.href);
    await bob.getByRole('button', { name: 'Allow' }).click();
    await bob.waitForURL((u) => u.href.startsWith(`${rp.base}/cb`));
    const tokens = await client.authorizationCodeGrant(config, new URL(bob.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    const claims = tokens.claims();
    assert.equal(claims.email, 'bob@example.org');
    assert.equal(claims.email_verified, true);
    await bobContext.close();
  });
});
