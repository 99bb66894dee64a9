// A screenshot of every page, light and dark, at a phone's width (390 px), written to
// $LATCHKEY_SCREENSHOT_DIR (scripts/test names the folder). Each page must fit the
// width: no horizontal scrolling, no console errors (CSP violations included).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { callbackServer, createClient, setupAdminWithPasskey } from './lib/rp.mjs';

const outDir = process.env.LATCHKEY_SCREENSHOT_DIR ?? path.resolve('screenshots');
const WIDTH = 390;

describe('every page at 390 px, light and dark', () => {
  let latchkey;
  let browser;
  let page;
  let rp;
  const shots = [];
  let seenErrors = 0;

  before(async () => {
    await mkdir(outDir, { recursive: true });
    [latchkey, browser, rp] = await Promise.all([
      startLatchkey({ env: { LATCHKEY_SIGNUP_MODE: 'open' } }),
      launchBrowser(),
      callbackServer(),
    ]);
    page = await browser.newPage();
    await page.setViewportSize({ width: WIDTH, height: 844 });
    await addVirtualAuthenticator(page);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    assert.equal(await latchkey?.stop(), 0);
  });

  /** Screenshot the page now shown, in both colour schemes, and check its width. */
  async function shoot(name) {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const file = path.join(outDir, `${name}-${scheme}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
      const overflow = await page.evaluate(() => {
        const excess = document.documentElement.scrollWidth - window.innerWidth;
        if (excess <= 0) return null;
        // Name the widest culprits, so that a failure says what to fix.
        const wide = [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
          .slice(-3)
          .map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''}`);
        return `${excess} px (${wide.join(', ')})`;
      });
      assert.equal(overflow, null, `${name} (${scheme}) scrolls sideways at ${WIDTH} px: ${overflow}`);
    }
    // A page shown with an error status logs that status; anything else is a fault.
    const fresh = consoleErrors(page)
      .slice(seenErrors)
      .filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));
    seenErrors = consoleErrors(page).length;
    assert.deepEqual(fresh, [], `${name}: console errors`);
  }

  async function visit(name, url) {
    const res = await page.goto(url.startsWith('http') ? url : `${latchkey.url}${url}`);
    assert.ok(res.status() < 500, `${name}: ${res.status()}`);
    await shoot(name);
  }

  test('pages before and after the first sign-in', async () => {
    await visit('landing', '/');
    await visit('setup', latchkey.setupUrl());
    await setupAdminWithPasskey(page, latchkey);
    await visit('account', '/account');
    await visit('security', '/account/security');
    await page.getByPlaceholder('e.g. Living-room TV').fill('Living-room TV');
    await page.getByRole('button', { name: 'Create app password' }).click();
    await page.locator('[data-app-password]').waitFor();
    await shoot('app-password-created');
    await visit('my-apps', '/account/apps');
    await visit('activity', '/account/activity');
    await visit('reauth', '/account/reauth?next=%2Faccount%2Fsecurity');
    await visit('add-passkey', '/setup/credential');
    await visit('not-found', '/no-such-page');
  });

  test('admin console pages', async () => {
    const client = await createClient(latchkey, ['--name', 'Screens', '--redirect-uri', `${rp.base}/cb`]);
    for (const [name, url] of [
      ['admin-users', '/admin/users'],
      ['admin-user-new', '/admin/users/new'],
      ['admin-groups', '/admin/groups'],
      ['admin-clients', '/admin/clients'],
      ['admin-client-new', '/admin/clients/new'],
      ['admin-client', `/admin/clients/${client.client_id}`],
      ['admin-settings', '/admin/settings'],
      ['admin-invites', '/admin/invites'],
      ['admin-api-keys', '/admin/api-keys'],
      ['admin-ldap', '/admin/ldap'],
      ['admin-audit', '/admin/audit'],
      ['api-docs', '/api/v1/docs'],
    ]) {
      await visit(name, url);
    }
    await page.goto(`${latchkey.url}/admin/users`);
    await page.locator('[data-user-row] a').first().click();
    await shoot('admin-user');
    await page.getByRole('button', { name: 'Create login link' }).click();
    await shoot('admin-login-link');
    await page.goto(`${latchkey.url}/admin/groups`);
    await page.locator('input[name=name]').fill('staff');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.waitForURL(/done=group_created/);
    await shoot('admin-group');
    await page.goto(`${latchkey.url}/admin/clients/new`);
    await page.getByLabel('Name', { exact: true }).fill('Dashboard with a rather long name');
    await page.getByLabel(/^Redirect URIs/).fill(`${rp.base}/a/very/long/callback/path/that/could/overflow/the/screen`);
    await page.getByRole('button', { name: 'Create client' }).click();
    await shoot('admin-client-secret');
    await page.goto(`${latchkey.url}/admin/ldap`);
    await page.getByLabel(/^Name/).fill('jellyfin');
    await page.getByRole('button', { name: 'Create service account' }).click();
    await page.locator('[data-ldap-password]').waitFor();
    await shoot('admin-ldap-account-created');
    await visit('admin-ldap-with-account', '/admin/ldap');

    // The consent page, as a relying party sends the user to it.
    const authorize = new URL('/authorize', latchkey.url);
    authorize.search = new URLSearchParams({
      client_id: client.client_id, redirect_uri: `${rp.base}/cb`, response_type: 'code',
      scope: 'openid profile email', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    await visit('consent', authorize.href);
    await visit('logout-confirm', '/logout');
  });

  test('signed-out pages', async () => {
    await page.context().clearCookies();
    await visit('login', '/login');
    await visit('signup', '/signup');
    await visit('signed-out-account', '/account');
    console.log(`screenshots: ${shots.length} files in ${outDir}`);
  });
});
