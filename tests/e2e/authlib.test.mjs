// authlib (PyPI) as the relying party: a Python process does everything a relying
// party does, and this test plays the browser (Chromium, passkey) in between.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { authorizeInBrowser, callbackServer, createClient, setupAdminWithPasskey } from './lib/rp.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const python = process.env.LATCHKEY_E2E_PYTHON || path.join(here, '.venv', 'bin', 'python');

/** Run the authlib relying party; `browse(kind, url)` answers its AUTHORIZE and LOGOUT lines. */
function runAuthlib(args, browse) {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(here, 'python', 'authlib_rp.py'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const lines = createInterface({ input: child.stdout });
    let ok = false;
    lines.on('line', async (line) => {
      const [kind, url] = line.split(' ', 2);
      try {
        if (kind === 'AUTHORIZE') child.stdin.write(`CALLBACK ${await browse('authorize', url)}\n`);
        else if (kind === 'LOGOUT') child.stdin.write(`DONE ${await browse('logout', url)}\n`);
        else if (kind === 'OK') ok = true;
      } catch (e) {
        child.kill();
        reject(e);
      }
    });
    child.on('exit', (code) => (code === 0 && ok ? resolve() : reject(new Error(`authlib relying party exited ${code}:\n${stderr}`))));
  });
}

describe('authlib against Latchkey', () => {
  let latchkey;
  let browser;
  let page;
  let rp;

  before(async () => {
    [latchkey, browser, rp] = await Promise.all([startLatchkey(), launchBrowser(), callbackServer()]);
    page = await browser.newPage();
    await addVirtualAuthenticator(page);
    await setupAdminWithPasskey(page, latchkey);
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.waitForURL(`${latchkey.url}/login`);
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    assert.equal(await latchkey?.stop(), 0);
  });

  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    test(`the whole dance with an ${alg} client`, async () => {
      const registered = await createClient(latchkey, [
        '--name', `Wiki ${alg}`,
        '--redirect-uri', `${rp.base}/callback`,
        '--post-logout-redirect-uri', `${rp.base}/bye`,
        '--signing-alg', alg,
      ]);
      await runAuthlib(
        [latchkey.url, registered.client_id, registered.client_secret, `${rp.base}/callback`, `${rp.base}/bye`, alg],
        async (kind, url) => {
          if (kind === 'authorize') return authorizeInBrowser(page, url, rp.base);
          await page.goto(url);
          await page.waitForURL((u) => u.href.startsWith(`${rp.base}/bye`));
          return page.url();
        },
      );
      await page.goto(`${latchkey.url}/account`);
      assert.equal(new URL(page.url()).pathname, '/login', 'RP-initiated logout ended the Latchkey session');
    });
  }
});
