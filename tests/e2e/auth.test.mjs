// Authentication in a real browser against the real server: first-admin setup with a
// passkey, passkey sign-in, managing passkeys, password + TOTP, recovery codes, login
// links from the CLI, and session revocation. The steps build on each other, in order.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { totpCode } from './lib/totp.mjs';

const PASSWORD = 'velvet tractor ocean lamp';

describe('authentication in Chromium', () => {
  let server;
  let browser;
  let page;
  let authenticator;
  let totpSecret;
  let recoveryCodes;

  before(async () => {
    [server, browser] = await Promise.all([startLatchkey(), launchBrowser()]);
    page = await browser.newPage();
    authenticator = await addVirtualAuthenticator(page);
  });

  // Pages answering 4xx on purpose log "Failed to load resource"; anything about the
  // Content Security Policy, or any script error, fails the run.
  const scriptProblems = (p) => consoleErrors(p).filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

  after(async () => {
    if (page) assert.deepEqual(scriptProblems(page), [], 'no CSP or script errors on any page');
    await browser?.close();
    assert.equal(await server?.stop(), 0);
  });

  const at = (path) => `${server.url}${path}`;
  const pathOf = () => new URL(page.url()).pathname;

  async function signOut() {
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.waitForURL(at('/login'));
  }

  // The username field offers passkeys (autofill); the virtual authenticator would
  // accept at once, so it stays silent while a person types a password instead.
  const presence = (enabled) =>
    authenticator.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: authenticator.authenticatorId, enabled });

  async function passwordSignIn(login) {
    await presence(false);
    await page.goto(at('/login'));
    await page.getByText('Use a password instead').click();
    await page.getByLabel('Username or email').fill(login);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname !== '/login');
    await presence(true);
  }

  test('first-admin setup with a passkey', async () => {
    await page.goto(server.setupUrl());
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Email').fill('admin@example.org');
    await page.getByLabel('First name').fill('Ada');
    await page.getByRole('button', { name: 'Create administrator' }).click();
    await page.waitForURL(at('/setup/credential'));
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(at('/account'));
    assert.match(await page.locator('h1').innerText(), /Hello, Ada/);
    const creds = await authenticator.credentials();
    assert.equal(creds.length, 1, 'one passkey on the authenticator');
    assert.equal(creds[0].isResidentCredential, true, 'a discoverable credential');
    // The setup link is dead now.
    const res = await page.request.get(server.setupUrl());
    assert.equal(res.status(), 410);
  });

  test('sign out, then "Sign in with a passkey" lands on /account', async () => {
    await signOut();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(at('/account'));
    assert.equal(pathOf(), '/account');
  });

  test('add a second passkey at /account/security, then delete one', async () => {
    // A second device: the first authenticator leaves, a new one arrives.
    const first = await authenticator.credentials();
    await authenticator.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: authenticator.authenticatorId });
    authenticator = await addVirtualAuthenticator(page);
    await page.goto(at('/account/security'));
    await page.getByLabel('Name for the new passkey').fill('Second laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(at('/account/security'));
    await page.locator('[data-passkey-row]').nth(1).waitFor();
    assert.equal(await page.locator('[data-passkey-row]').count(), 2);
    assert.equal((await authenticator.credentials()).length, 1);
    assert.notEqual((await authenticator.credentials())[0].credentialId, first[0].credentialId);

    // Delete the first one (the one this authenticator does not hold).
    const firstRow = page.locator('[data-passkey-row]').first();
    assert.notEqual(await firstRow.locator('input[name="name"]').inputValue(), 'Second laptop');
    await firstRow.getByRole('button', { name: /Delete passkey/ }).click();
    await page.waitForURL(/done=passkey_deleted/);
    assert.equal(await page.locator('[data-passkey-row]').count(), 1);
    assert.equal(await page.locator('[data-passkey-row] input[name="name"]').inputValue(), 'Second laptop');
    // The last sign-in method offers no delete button.
    assert.equal(await page.getByRole('button', { name: /Delete passkey/ }).count(), 0);

    // The remaining passkey signs in.
    await signOut();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(at('/account'));
  });

  test('passkey autofill on the username field signs in', async () => {
    await signOut();
    await page.getByText('Use a password instead').click();
    await page.getByLabel('Username or email').focus();
    await page.waitForURL(at('/account'));
  });

  test('set a password and an authenticator app', async () => {
    await page.goto(at('/account/security'));
    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat new password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set a password' }).click();
    await page.waitForURL(/done=password_set/);

    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    totpSecret = (await page.locator('[data-totp-secret]').innerText()).trim();
    assert.match(totpSecret, /^[A-Z2-7]{32}$/);
    assert.equal(await page.getByRole('img', { name: /QR code/ }).count(), 1);
    await page.getByLabel('Code from the app').fill(totpCode(totpSecret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.locator('[data-recovery-codes]').waitFor();
    recoveryCodes = (await page.locator('[data-recovery-codes] code').allInnerTexts()).map((c) => c.trim());
    assert.equal(recoveryCodes.length, 10);
    await page.getByRole('link', { name: 'I have saved them' }).click();
    assert.match(await page.locator('#totp').locator('..').innerText(), /On\. 10 recovery codes left/);
  });

  test('password + TOTP sign-in', async () => {
    await signOut();
    await passwordSignIn('admin@example.org');
    await page.waitForURL(at('/login/second-factor'));
    // The code of the next period: the current one was spent enrolling and cannot be replayed.
    await page.getByLabel('Code').fill(totpCode(totpSecret, Date.now() / 1000 + 30));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(at('/account'));
  });

  test('a recovery code works once', async () => {
    await signOut();
    await passwordSignIn('admin');
    await page.getByLabel('Code').fill(recoveryCodes[0]);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(at('/account'));

    await signOut();
    await passwordSignIn('admin');
    await page.getByLabel('Code').fill(recoveryCodes[0]);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /can be used only once/);
    assert.equal(pathOf(), '/login/second-factor');
  });

  test('a login link from `latchkey login-link` works once, then says it is used', async () => {
    const out = await server.cli(['login-link', 'admin']);
    assert.equal(out.code, 0, out.stderr);
    const link = out.stdout.trim().split('\n').at(-1);
    assert.ok(link.startsWith(`${server.url}/login/code/`), link);
    await page.goto(link);
    await page.getByRole('button', { name: /Continue as/ }).click();
    await page.waitForURL(at('/account'));

    await page.goto(link);
    assert.match(await page.locator('h1').innerText(), /expired or was already used/);
  });

  test('a revoked session is signed out on its next request', async () => {
    const other = await launchBrowser();
    try {
      const phone = await other.newPage();
      await phone.goto(at('/login'));
      await phone.getByText('Use a password instead').click();
      await phone.getByLabel('Username or email').fill('admin');
      await phone.getByLabel('Password').fill(PASSWORD);
      await phone.getByRole('button', { name: 'Sign in', exact: true }).click();
      await phone.getByLabel('Code').fill(recoveryCodes[1]);
      await phone.getByRole('button', { name: 'Continue' }).click();
      await phone.waitForURL(at('/account'));

      await page.goto(at('/account/security'));
      assert.equal(await page.locator('[data-session-row]').count(), 2);
      await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
      await page.waitForURL(/done=others_revoked/);
      assert.equal(await page.locator('[data-session-row]').count(), 1);

      await phone.goto(at('/account/security'));
      assert.equal(new URL(phone.url()).pathname, '/login', 'the revoked session is sent to sign in');
      assert.deepEqual(scriptProblems(phone), []);
    } finally {
      await other.close();
    }
  });
});
