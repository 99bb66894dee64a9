// Pieces shared by the relying-party tests: an admin with a passkey, a callback
// server that stands in for the relying party's web server, and clients from the CLI.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';

/** A tiny HTTP server that answers every request with 200, recording the URLs. */
export async function callbackServer() {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('relying party');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, seen, close: () => new Promise((r) => server.close(r)) };
}

/** Register a client with `latchkey clients create` and return the parsed JSON. */
export async function createClient(latchkey, args) {
  const out = await latchkey.cli(['clients', 'create', ...args]);
  if (out.code !== 0) throw new Error(`clients create failed: ${out.stderr}\n${latchkey.log()}`);
  return JSON.parse(out.stdout);
}

/** OIDC at_hash: left half of the hash of the token; SHA-512 for EdDSA (Ed25519). */
export function atHash(accessToken, alg) {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Create the first admin through the setup link, with a passkey on `page`'s authenticator. */
export async function setupAdminWithPasskey(page, latchkey) {
  await page.goto(latchkey.setupUrl());
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Email').fill('admin@example.org');
  await page.getByLabel('First name').fill('Ada');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.waitForURL(`${latchkey.url}/setup/credential`);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.waitForURL(`${latchkey.url}/account`);
}

/**
 * Follow an authorization URL in the browser: sign in with the passkey when asked,
 * approve the consent page, and return the URL the browser was sent back to.
 */
export async function authorizeInBrowser(page, authorizationUrl, callbackBase) {
  await page.goto(authorizationUrl);
  for (let step = 0; step < 4; step += 1) {
    if (page.url().startsWith(callbackBase)) return page.url();
    const path = new URL(page.url()).pathname;
    if (path === '/login') {
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    } else if (path === '/authorize') {
      await page.getByRole('button', { name: 'Allow' }).click();
    } else {
      throw new Error(`unexpected page ${page.url()}: ${await page.locator('h1').innerText().catch(() => '')}`);
    }
    await page.waitForURL((u) => u.href.startsWith(callbackBase) || u.pathname !== path);
  }
  if (page.url().startsWith(callbackBase)) return page.url();
  throw new Error(`never came back to the relying party; at ${page.url()}`);
}
