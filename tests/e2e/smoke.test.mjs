// Smoke test of the harness against the real server: pages render in Chromium under
// the CSP, the setup link from the log works, a virtual authenticator can be attached,
// and the server stops cleanly. Later e2e tests build on exactly these pieces.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';

describe('smoke', () => {
  let server;
  let browser;

  before(async () => {
    [server, browser] = await Promise.all([startLatchkey(), launchBrowser()]);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the landing page renders with no console errors under the CSP', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${server.url}/`);
    assert.equal(res.status(), 200, server.log());
    assert.match(await page.title(), /Latchkey/);
    // Without the header, "no console errors" below would prove nothing about CSP.
    assert.match(res.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    assert.deepEqual(consoleErrors(page), []);
    await page.close();
  });

  test('a CSP violation is reported by consoleErrors()', async () => {
    // Guards the check above: an inline script must be refused and recorded.
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const refused = page.waitForEvent('console', (m) => m.type() === 'error');
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = true';
      document.head.append(s);
    });
    await refused;
    assert.equal(await page.evaluate(() => window.inlineRan), undefined);
    const errors = consoleErrors(page);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /Content Security Policy/);
    await page.close();
  });

  test('/healthz reports the server and the database ok', async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', database: 'ok' });
  });

  test('the setup link from the log opens the first-admin page', async () => {
    const link = server.setupUrl();
    assert.ok(link, `no setup.pending event in the log:\n${server.log()}`);
    assert.ok(link.startsWith(`${server.url}/setup?token=`), link);
    const page = await browser.newPage();
    const res = await page.goto(link);
    assert.equal(res.status(), 200, server.log());
    assert.equal(await page.locator('h1').innerText(), 'Create the first administrator');
    assert.deepEqual(consoleErrors(page), []);
    await page.close();
  });

  test('an invalid setup token gets the "not valid" page', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${server.url}/setup?token=not-the-token`);
    assert.equal(res.status(), 404);
    assert.equal(await page.locator('h1').innerText(), 'This setup link is not valid');
    await page.close();
  });

  test('cli() runs the binary against the same data', async () => {
    const { code, stdout, stderr } = await server.cli(['users', 'list']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), []);
  });

  test('a virtual authenticator attaches to a localhost page', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const authenticator = await addVirtualAuthenticator(page);
    assert.ok(authenticator.authenticatorId);
    assert.deepEqual(await authenticator.credentials(), []);
    // The page now sees a user-verifying platform authenticator: passkeys can be made.
    const available = await page.evaluate(() =>
      PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable(),
    );
    assert.equal(available, true);
    await page.close();
  });

  test('stop() shuts the server down with status 0', async () => {
    const code = await server.stop();
    assert.equal(code, 0, server.log());
  });
});
