// The upstream directory in the console, in Chromium: an admin applies the OpenLDAP
// preset on /admin/directory, fills in a real slapd, tests the connection, syncs; then a
// synced user signs in to an openid-client relying party with their directory password.
// Screenshots of the page, light and dark, at 390 px.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { callbackServer, createClient, setupAdminWithPasskey } from './lib/rp.mjs';
import { BASE, READER_DN, READER_PW, passwordOf, startSlapd } from './lib/slapd.mjs';

const outDir = process.env.LATCHKEY_SCREENSHOT_DIR ?? path.resolve('screenshots');
const WIDTH = 390;

describe('the directory page and a directory user signing in', () => {
  let latchkey;
  let slapd;
  let browser;
  let page;
  let rp;

  before(async () => {
    await mkdir(outDir, { recursive: true });
    [latchkey, slapd, browser, rp] = await Promise.all([startLatchkey(), startSlapd(), launchBrowser(), callbackServer()]);
    page = await browser.newPage();
    await page.setViewportSize({ width: WIDTH, height: 844 });
    await addVirtualAuthenticator(page);
    await setupAdminWithPasskey(page, latchkey);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    await slapd?.stop();
    assert.equal(await latchkey?.stop(), 0);
  });

  async function shoot(name) {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: path.join(outDir, `${name}-${scheme}.png`), fullPage: true });
      const excess = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(excess <= 0, `${name} (${scheme}) scrolls sideways by ${excess} px at ${WIDTH} px`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  test('an admin sets up the directory with the OpenLDAP preset, tests it and syncs', async () => {
    await page.goto(`${latchkey.url}/admin/directory`);
    await page.getByRole('link', { name: 'Directory' }).first().waitFor();
    assert.match(await page.locator('[data-directory-off]').innerText(), /No directory is in use/);
    await shoot('admin-directory-empty');

    await page.getByLabel('Directory kind').selectOption('openldap');
    await page.getByRole('button', { name: 'Use this preset' }).click();
    await page.waitForURL(/done=preset/);
    assert.equal(await page.getByLabel('Username', { exact: true }).inputValue(), 'uid');
    assert.equal(await page.getByLabel('Unique id').inputValue(), 'entryUUID');

    await page.getByLabel('Directory URL').fill(slapd.url);
    await page.getByLabel('Bind DN').fill(READER_DN);
    await page.getByLabel('Bind password').fill(READER_PW);
    await page.getByLabel('Base DN').fill(BASE);
    await page.getByLabel('User base').fill('ou=people');
    await page.getByLabel('Group base').fill('ou=groups');
    await page.getByLabel('Admin group').fill('latchkey-admins');
    await page.getByRole('button', { name: 'Save directory settings' }).click();
    await page.waitForURL(/done=saved/);

    await page.getByRole('button', { name: 'Test connection' }).click();
    const tested = await page.locator('[data-directory-notice]').innerText();
    assert.match(tested, /the user filter finds 5 entries, the group filter 3/, tested);

    await page.getByRole('button', { name: 'Sync now' }).click();
    const synced = await page.locator('[data-directory-notice]').innerText();
    assert.match(synced, /Synced: 5 created/, synced);
    await page.goto(`${latchkey.url}/admin/directory`);
    assert.ok(await page.locator('[data-run][data-outcome="applied"]').count() >= 1);
    await shoot('admin-directory');

    await page.goto(`${latchkey.url}/admin/users`);
    assert.equal(await page.locator('[data-user-row]', { hasText: 'alice' }).getByText('Directory').count(), 1);
    assert.deepEqual(consoleErrors(page), []);
  });

  test('a synced user signs in to an openid-client relying party with the directory password', async () => {
    const registered = await createClient(latchkey, ['--name', 'Wiki', '--redirect-uri', `${rp.base}/cb`]);
    const config = await client.discovery(
      new URL(latchkey.url),
      registered.client_id,
      registered.client_secret,
      undefined,
      { execute: [client.allowInsecureRequests] },
    );
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${rp.base}/cb`,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
    });
    // A fresh browser context: nobody is signed in there.
    const context = await browser.browser.newContext();
    const alice = await context.newPage();
    await alice.goto(url.href);
    await alice.getByText('Use a password instead').click();
    await alice.getByLabel('Username or email').fill('alice');
    await alice.getByLabel('Password').fill(passwordOf('alice'));
    await alice.getByRole('button', { name: 'Sign in', exact: true }).click();
    await alice.waitForURL((u) => u.pathname === '/authorize' || u.href.startsWith(rp.base));
    if (!alice.url().startsWith(rp.base)) {
      await alice.getByRole('button', { name: 'Allow' }).click();
      await alice.waitForURL((u) => u.href.startsWith(rp.base));
    }
    const tokens = await client.authorizationCodeGrant(config, new URL(alice.url()), {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.email, 'alice@example.org');
    assert.deepEqual([...claims.groups].sort(), ['developers', 'latchkey-admins']);
    assert.deepEqual(claims.amr, ['pwd']);
    await context.close();
  });
});
