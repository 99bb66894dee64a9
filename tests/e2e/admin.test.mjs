// The admin story of issue 5, all through the web UI in Chromium: the admin creates a
// group, a user in it and an OIDC client allowed for that group; the new user signs in
// at that client through openid-client; a user outside the group is refused; the admin
// disables the user and their next refresh fails. Then sign-up by invite link, with a
// passkey made in the browser, ending in the invite's group.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { authorizeInBrowser, callbackServer, setupAdminWithPasskey } from './lib/rp.mjs';

/** Create a user in the admin console and return their page's URL. */
async function createUser(admin, latchkey, username) {
  await admin.goto(`${latchkey.url}/admin/users/new`);
  await admin.getByLabel('Username').fill(username);
  await admin.getByLabel('Email').fill(`${username}@example.org`);
  await admin.getByLabel('First name').fill(username[0].toUpperCase() + username.slice(1));
  await admin.getByRole('button', { name: 'Create user' }).click();
  await admin.waitForURL(/\/admin\/users\/[^/?]+\?done=user_created/);
  return admin.url().split('?')[0];
}

/** The one-time login link the admin console makes for a user. */
async function loginLinkFor(admin, userPage) {
  await admin.goto(userPage);
  await admin.getByRole('button', { name: 'Create login link' }).click();
  return admin.locator('[data-login-link]').inputValue();
}

/** A fresh browser (its own cookies) signed in through a login link. */
async function signInWithLink(browser, link, displayName) {
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await page.getByRole('button', { name: `Continue as ${displayName}` }).click();
  await page.waitForURL((u) => u.pathname === '/account');
  return page;
}

describe('the admin console, end to end', () => {
  let latchkey;
  let browser;
  let admin;
  let rp;

  before(async () => {
    [latchkey, browser, rp] = await Promise.all([startLatchkey(), launchBrowser(), callbackServer()]);
    admin = await browser.newPage();
    await addVirtualAuthenticator(admin);
    await setupAdminWithPasskey(admin, latchkey);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    assert.equal(await latchkey?.stop(), 0);
  });

  test('group, user and client made in the UI; the group decides who gets in; disabling ends refresh', async () => {
    // A group.
    await admin.goto(`${latchkey.url}/admin/groups`);
    await admin.locator('input[name=name]').fill('wiki-users');
    await admin.getByLabel('Display name').fill('Wiki users');
    await admin.getByRole('button', { name: 'Create group' }).click();
    await admin.waitForURL(/\/admin\/groups\/[^/?]+\?done=group_created/);
    const groupPage = admin.url().split('?')[0];

    // Two users; only grace joins the group.
    const gracePage = await createUser(admin, latchkey, 'grace');
    const hopperPage = await createUser(admin, latchkey, 'hopper');
    await admin.goto(groupPage);
    await admin.getByLabel('Add a member (username or email)').fill('grace');
    await admin.getByRole('button', { name: 'Add', exact: true }).click();
    await admin.waitForURL(/done=member_added/);
    assert.ok(await admin.locator('[data-member-row]', { hasText: 'grace' }).count(), 'grace is a member');

    // A client only the group may use; the secret is on the page once.
    await admin.goto(`${latchkey.url}/admin/clients/new`);
    await admin.getByLabel('Name', { exact: true }).fill('Wiki');
    await admin.getByLabel(/^Redirect URIs/).fill(`${rp.base}/cb`);
    await admin.getByLabel(/Wiki users/).check();
    await admin.getByRole('button', { name: 'Create client' }).click();
    const clientId = await admin.locator('[data-client-id]').inputValue();
    const clientSecret = await admin.locator('[data-client-secret]').inputValue();
    const discoveryUrl = await admin.locator('[data-discovery-url]').inputValue();
    assert.equal(discoveryUrl, `${latchkey.url}/.well-known/openid-configuration`);
    assert.deepEqual(consoleErrors(admin), []);

    const config = await client.discovery(new URL(latchkey.url), clientId, clientSecret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const authorize = async (page) => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: `${rp.base}/cb`,
        scope: 'openid profile email groups offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const callback = await authorizeInBrowser(page, url.href, rp.base);
      return { callback: new URL(callback), verifier, state };
    };

    // grace signs in at the client.
    const grace = await signInWithLink(browser, await loginLinkFor(admin, gracePage), 'Grace');
    const g = await authorize(grace);
    const tokens = await client.authorizationCodeGrant(config, g.callback, {
      pkceCodeVerifier: g.verifier,
      expectedState: g.state,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.equal(claims.preferred_username, 'grace');
    assert.deepEqual(claims.groups, ['wiki-users']);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);

    // hopper is not in the group: the client hears access_denied.
    const hopper = await signInWithLink(browser, await loginLinkFor(admin, hopperPage), 'Hopper');
    const h = await authorize(hopper);
    assert.equal(h.callback.searchParams.get('error'), 'access_denied');
    await assert.rejects(
      client.authorizationCodeGrant(config, h.callback, { pkceCodeVerifier: h.verifier, expectedState: h.state }),
      (e) => e.error === 'access_denied',
    );

    // The admin disables grace: her next refresh fails, her browser session is gone.
    await admin.goto(gracePage);
    await admin.getByRole('button', { name: 'Disable and sign out everywhere' }).click();
    await admin.waitForURL(/done=user_disabled/);
    await assert.rejects(
      client.refreshTokenGrant(config, refreshed.refresh_token),
      (e) => e.error === 'invalid_grant',
    );
    await grace.goto(`${latchkey.url}/account`);
    assert.equal(new URL(grace.url()).pathname, '/login');
    await grace.context().close();
    await hopper.context().close();
  });

  test('sign-up with an invite link: account, passkey, and the invite’s group', async () => {
    await admin.goto(`${latchkey.url}/admin/settings`);
    await admin.getByLabel('Sign-up').selectOption('invite');
    await admin.getByRole('button', { name: 'Save settings' }).click();
    await admin.waitForURL(/done=settings_saved/);

    await admin.goto(`${latchkey.url}/admin/groups`);
    await admin.locator('input[name=name]').fill('family');
    await admin.getByRole('button', { name: 'Create group' }).click();
    await admin.waitForURL(/done=group_created/);
    const familyPage = admin.url().split('?')[0];

    await admin.goto(`${latchkey.url}/admin/invites`);
    await admin.getByLabel(/Note/).fill('For Linus');
    await admin.getByLabel('family').check();
    await admin.getByRole('button', { name: 'Create invite link' }).click();
    const link = await admin.locator('[data-invite-link]').inputValue();
    assert.ok(link.startsWith(`${latchkey.url}/signup?invite=`), link);

    const context = await browser.browser.newContext();
    const visitor = await context.newPage();
    const authenticator = await addVirtualAuthenticator(visitor);
    await visitor.goto(link);
    await visitor.getByLabel('Username').fill('linus');
    await visitor.getByLabel('Email').fill('linus@example.org');
    await visitor.getByLabel('First name').fill('Linus');
    await visitor.getByRole('button', { name: 'Create account' }).click();
    await visitor.waitForURL(`${latchkey.url}/signup/credential`);
    await visitor.getByRole('button', { name: 'Add a passkey' }).click();
    await visitor.waitForURL(`${latchkey.url}/account`);
    assert.equal((await authenticator.credentials()).length, 1, 'a passkey was made');

    // The passkey signs Linus in again after signing out.
    await visitor.getByRole('button', { name: 'Sign out' }).first().click();
    await visitor.waitForURL(`${latchkey.url}/login`);
    await visitor.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await visitor.waitForURL(`${latchkey.url}/account`);

    await admin.goto(familyPage);
    assert.equal(await admin.locator('[data-member-row]', { hasText: 'linus' }).count(), 1, 'linus joined the invite’s group');
    // The link was for one person: someone else (another browser) is turned away.
    await context.close();
    const stranger = await browser.browser.newContext();
    const res = await (await stranger.newPage()).goto(link);
    assert.equal(res.status(), 410, 'a spent invite');
    await stranger.close();
  });
});
