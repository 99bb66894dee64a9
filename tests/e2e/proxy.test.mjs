// Forward-auth with the real proxies: Debian's nginx (auth_request) and Caddy
// (forward_auth), each configured with the README's recipe, in front of a backend that
// echoes the headers it receives. Chromium reaches every *.example.test host on
// loopback; Latchkey is http://auth.example.test:PORT with the proxy cookie on
// example.test. For each proxy: a visitor is sent to sign in and comes back to the page
// they asked for, the backend hearing Remote-User and Remote-Groups; a Remote-User the
// client sends never gets through; someone outside the app's groups sees "No access";
// a passkey-only app steps a password session up to a passkey; signing out, and a
// session revoked from another device, lock the app at the next request; a public path
// passes without a session. Screenshots of the console's proxied-apps pages and of the
// no-access page, light and dark, at 390 px.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addVirtualAuthenticator, consoleErrors, launchBrowser, startLatchkey } from './lib/harness.mjs';
import { headerValues, proxyGet, startBackend, startCaddy, startNginx } from './lib/proxies.mjs';
import { setupAdminWithPasskey } from './lib/rp.mjs';

const outDir = process.env.LATCHKEY_SCREENSHOT_DIR ?? path.resolve('screenshots');
const WIDTH = 390;
const PASSWORD = 'velvet tractor ocean lamp';
const KINDS = ['nginx', 'caddy'];
// Each proxy has an app of its own (group "staff"), and both serve the passkey-only
// vault (public below /health) and the "ops" app (group "ops", which alice is not in).
const appHost = (kind) => `${kind}-app.example.test`;
const VAULT = 'vault.example.test';
const OPS = 'ops.example.test';

describe('forward-auth behind the real nginx and Caddy', () => {
  let latchkey;
  let backend;
  const proxies = {};
  let browser;
  let admin; // the first admin (a passkey), for the console
  let alice; // in "staff", with a password and a passkey
  let aliceKey; // alice's virtual authenticator
  let bob; // in no group
  let anon; // nobody signed in
  let apiKey;

  // Pages answering 4xx on purpose log "Failed to load resource"; plain http on a
  // name other than localhost makes Chromium ignore (and say so) the
  // Cross-Origin-Opener-Policy header. Nothing else may be logged.
  const expected = [
    /Failed to load resource: the server responded with a status of 4\d\d/,
    /The Cross-Origin-Opener-Policy header has been ignored, because the URL's origin was untrustworthy/,
  ];
  const scriptProblems = (p) => consoleErrors(p).filter((e) => !expected.some((re) => re.test(e)));
  // Did Latchkey's stylesheet load and apply? (Read from the computed style: the
  // rules of a stylesheet from another origin, as at an app's host, are not readable.)
  const styled = (page) => page.evaluate(() => getComputedStyle(document.querySelector('main')).borderTopLeftRadius === '12px');
  const at = (p) => `${latchkey.url}${p}`;
  const appUrl = (kind, host, p) => `http://${host}:${proxies[kind].port}${p}`;
  const echoOf = async (page) => JSON.parse(await page.locator('body').innerText());

  /** Wait for every promise; then fail with the first that failed, if any. */
  async function settled(promises) {
    const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function api(method, p, body) {
    const res = await fetch(`${latchkey.local}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${p}: ${res.status} ${await res.clone().text()}`);
    return res.status === 204 ? undefined : res.json().catch(() => undefined);
  }

  async function cli(args) {
    const out = await latchkey.cli(args);
    assert.equal(out.code, 0, `latchkey ${args.join(' ')}: ${out.stderr}`);
    return out.stdout;
  }

  async function newPage(context) {
    const page = await browser.newPage(context);
    await page.setViewportSize({ width: WIDTH, height: 844 });
    return page;
  }

  /** A page in a browser context of its own, signed in as `username` by a login link. */
  async function signedInPage(username, displayName) {
    const context = await browser.browser.newContext();
    const page = await newPage(context);
    const link = (await cli(['login-link', username])).trim().split('\n').at(-1);
    await page.goto(link);
    await page.getByRole('button', { name: `Continue as ${displayName}` }).click();
    await page.waitForURL(at('/account'));
    return page;
  }

  // The username field offers passkeys (autofill), which alice's authenticator would
  // answer at once: it stays silent except while she uses her passkey on purpose.
  const presence = (enabled) =>
    aliceKey.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: aliceKey.authenticatorId, enabled });

  /** On Latchkey's sign-in page: the password form, then wait to be sent on. */
  async function passwordSignIn(page, login) {
    assert.equal(new URL(page.url()).pathname, '/login', `expected the sign-in page, at ${page.url()}`);
    await page.getByText('Use a password instead').click();
    await page.getByLabel('Username or email').fill(login);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname !== '/login' && u.pathname !== '/login/password');
  }

  /** Where a page is, as the rd it was sent to sign in with (or null). */
  function signInFor(page) {
    const u = new URL(page.url());
    if (u.origin !== latchkey.url || u.pathname !== '/login') return null;
    return u.searchParams.get('rd');
  }

  async function shoot(page, name) {
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: path.join(outDir, `${name}-${scheme}.png`), fullPage: true });
      const excess = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(excess <= 0, `${name} (${scheme}) scrolls sideways by ${excess} px at ${WIDTH} px`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  before(async () => {
    await mkdir(outDir, { recursive: true });
    // Each one kept as soon as it runs, so that after() stops it even when another
    // fails to start.
    await settled([
      startLatchkey({
        host: 'auth.example.test',
        env: { LATCHKEY_PROXY_COOKIE_DOMAIN: 'example.test', LATCHKEY_TRUST_PROXY: '127.0.0.1' },
      }).then((l) => { latchkey = l; }),
      startBackend().then((b) => { backend = b; }),
    ]);
    await settled([
      startNginx({ latchkey, backend, hosts: [appHost('nginx'), VAULT, OPS] }).then((p) => { proxies.nginx = p; }),
      startCaddy({ latchkey, backend, hosts: [appHost('caddy'), VAULT, OPS] }).then((p) => { proxies.caddy = p; }),
      launchBrowser({
        args: [
          '--host-resolver-rules=MAP *.example.test 127.0.0.1',
          // WebAuthn wants a secure context: http://localhost is one, this origin is
          // made one (the flag takes the exact origin, port included).
          `--unsafely-treat-insecure-origin-as-secure=${latchkey.url}`,
        ],
      }).then((b) => { browser = b; }),
    ]);

    admin = await browser.newPage();
    await admin.setViewportSize({ width: WIDTH, height: 844 });
    await addVirtualAuthenticator(admin);
    await setupAdminWithPasskey(admin, latchkey);
    apiKey = JSON.parse(await cli(['api-keys', 'create', '--user', 'admin', '--name', 'proxy-e2e', '--expires-in', '1d'])).key;

    const staff = await api('POST', '/groups', { name: 'staff', display_name: 'Staff' });
    await api('POST', '/groups', { name: 'ops', display_name: 'Operations' });
    const aliceUser = JSON.parse(await cli(['users', 'create', '--username', 'alice', '--email', 'alice@example.org', '--first-name', 'Alice', '--last-name', 'Archer']));
    await cli(['users', 'create', '--username', 'bob', '--email', 'bob@example.org', '--first-name', 'Bob']);
    await api('PUT', `/groups/${staff.id}/members/${aliceUser.id}`);
    for (const kind of KINDS) {
      await cli(['proxy-apps', 'create', '--name', `${kind} app`, '--host', appHost(kind), '--group', 'staff']);
    }
    await cli(['proxy-apps', 'create', '--name', 'Vault', '--host', VAULT, '--require', 'passkey', '--public-path', '/health']);

    // alice: a password and a passkey, set at /account/security.
    alice = await signedInPage('alice', 'Alice');
    aliceKey = await addVirtualAuthenticator(alice);
    await alice.goto(at('/account/security'));
    await alice.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await alice.getByLabel('Repeat new password').fill(PASSWORD);
    await alice.getByRole('button', { name: 'Set a password' }).click();
    await alice.waitForURL(/done=password_set/);
    await alice.getByLabel('Name for the new passkey').fill('Laptop');
    await alice.getByRole('button', { name: 'Add a passkey' }).click();
    await alice.locator('[data-passkey-row]').waitFor();
    assert.equal((await aliceKey.credentials()).length, 1);
    await presence(false);

    bob = await signedInPage('bob', 'Bob');
    anon = await newPage(await browser.browser.newContext());
  });

  after(async () => {
    // Everything stops first: a failed check must not leave a process behind.
    const problems = [admin, alice, bob, anon].filter(Boolean).flatMap(scriptProblems);
    await browser?.close();
    await Promise.all(KINDS.map((k) => proxies[k]?.stop()));
    await backend?.close();
    const status = await latchkey?.stop();
    assert.deepEqual(problems, [], 'no CSP or script errors on any page');
    if (latchkey) assert.equal(status, 0);
  });

  test('the console lists the proxied apps; an app is made with the new-application form', async () => {
    await admin.goto(at('/admin/proxy-apps'));
    assert.equal(await admin.locator('[data-proxy-app-row]').count(), 3);
    await shoot(admin, 'admin-proxy-apps');

    await admin.getByRole('link', { name: 'New application' }).click();
    await admin.waitForURL(at('/admin/proxy-apps/new'));
    await shoot(admin, 'admin-proxy-app-new');
    await admin.getByLabel('Name', { exact: true }).fill('Ops');
    await admin.getByLabel(/^Hosts/).fill(OPS);
    await admin.getByLabel(/Operations/).check();
    await admin.getByRole('button', { name: 'Create application' }).click();
    await admin.waitForURL(/\/admin\/proxy-apps\/[^/?]+\?done=proxy_app_created/);
    await admin.goto(at('/admin/proxy-apps'));
    assert.equal(await admin.locator('[data-proxy-app-row]').count(), 4);
    assert.match(await admin.locator('[data-proxy-app-row]', { hasText: 'Ops' }).innerText(), /ops\.example\.test/);
  });

  test('a sign-in link that would send the browser to another site is refused', async () => {
    for (const rd of [
      'https://evil.example/',
      `http://${appHost('nginx')}.evil.example/`,
      `https://evil.example/?${appHost('nginx')}`,
      `//${appHost('nginx')}/`,
      `javascript://${appHost('nginx')}/%0aalert(1)`,
    ]) {
      const res = await anon.goto(at(`/login?rd=${encodeURIComponent(rd)}`));
      assert.equal(res.status(), 400, rd);
      assert.match(await anon.locator('h1').innerText(), /not protected here/);
    }
    // Signed in, the way back is checked the same.
    const back = await alice.goto(at(`/proxy/return?rd=${encodeURIComponent('https://evil.example/')}`));
    assert.equal(back.status(), 400);
    assert.equal(new URL(alice.url()).origin, latchkey.url);
    // An address an application covers is fine.
    const ok = await anon.goto(at(`/login?rd=${encodeURIComponent(`http://${appHost('nginx')}:1/x`)}`));
    assert.equal(ok.status(), 200);
  });

  for (const kind of KINDS) {
    describe(`behind ${kind}`, () => {
      const target = () => appUrl(kind, appHost(kind), '/reports/weekly?team=blue&page=2');

      test('a visitor signs in at Latchkey and lands on the page they asked for, the backend told who they are', async () => {
        // Signed in at Latchkey, but with no proxy cookie: as a new browser.
        await alice.context().clearCookies();
        await alice.goto(target());
        assert.equal(signInFor(alice), target(), `sent to sign in with rd, at ${alice.url()}`);
        await passwordSignIn(alice, 'alice');
        await alice.waitForURL(target());
        const echo = await echoOf(alice);
        assert.equal(echo.url, '/reports/weekly?team=blue&page=2');
        assert.deepEqual(headerValues(echo, 'Remote-User'), ['alice'], `${kind} passes Remote-User: ${JSON.stringify(echo.headers)}`);
        assert.deepEqual(headerValues(echo, 'Remote-Groups'), ['staff']);
        assert.deepEqual(headerValues(echo, 'Remote-Email'), ['alice@example.org']);
        assert.deepEqual(headerValues(echo, 'Remote-Name'), ['Alice Archer']);

        const cookie = (await alice.context().cookies()).find((c) => c.name === 'latchkey_proxy');
        assert.ok(cookie, 'the proxy cookie was set');
        assert.equal(cookie.domain, '.example.test');
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.sameSite, 'Lax');
      });

      test('a Remote-User the client sends never reaches the backend', async () => {
        const forged = { 'Remote-User': 'admin', 'Remote-Groups': 'admins,staff', 'Remote-Email': 'admin@example.org', 'Remote-Name': 'Ada' };
        // Signed in: the backend hears Latchkey's answer, once.
        await alice.setExtraHTTPHeaders(forged);
        try {
          await alice.goto(target());
          const echo = await echoOf(alice);
          assert.deepEqual(headerValues(echo, 'Remote-User'), ['alice'], JSON.stringify(echo.rawHeaders));
          assert.deepEqual(headerValues(echo, 'Remote-Groups'), ['staff']);
          assert.deepEqual(headerValues(echo, 'Remote-Email'), ['alice@example.org']);
          assert.deepEqual(headerValues(echo, 'Remote-Name'), ['Alice Archer']);
        } finally {
          await alice.setExtraHTTPHeaders({});
        }

        // Not signed in, on a public path: through, without any Remote-* header.
        await anon.setExtraHTTPHeaders(forged);
        try {
          const res = await anon.goto(appUrl(kind, VAULT, '/health/live'));
          assert.equal(res.status(), 200);
          const echo = await echoOf(anon);
          assert.equal(echo.url, '/health/live');
          for (const name of Object.keys(forged)) {
            assert.deepEqual(headerValues(echo, name), [], `${name} on a public path: ${JSON.stringify(echo.rawHeaders)}`);
          }
        } finally {
          await anon.setExtraHTTPHeaders({});
        }

        // Not signed in, elsewhere: never reaches the backend at all. A script (no
        // text/html) hears 401 from Caddy; nginx redirects every 401 itself.
        const before = backend.seen.length;
        const res = await proxyGet(proxies[kind], appHost(kind), '/reports', { ...forged, accept: 'application/json' });
        assert.equal(res.status, kind === 'caddy' ? 401 : 302, res.body);
        assert.ok(res.headers.location.startsWith(at('/login?rd=')), res.headers.location);
        const page = await proxyGet(proxies[kind], appHost(kind), '/reports', { ...forged, accept: 'text/html' });
        assert.equal(page.status, 302);
        assert.equal(backend.seen.length, before, 'nothing reached the backend');
      });

      test('a public path passes without a session', async () => {
        const before = backend.seen.length;
        const res = await proxyGet(proxies[kind], VAULT, '/health', { accept: 'text/html' });
        assert.equal(res.status, 200, res.body);
        assert.equal(JSON.parse(res.body).url, '/health');
        assert.equal(backend.seen.length, before + 1);
        // `..` never climbs out of a public path into the app.
        const climb = await proxyGet(proxies[kind], VAULT, '/health/../secrets', { accept: 'text/html' });
        assert.equal(climb.status, 302, climb.body);
        assert.equal(backend.seen.length, before + 1);
      });

      test('someone outside the app’s groups sees "No access"', async () => {
        const seen = backend.seen.length;
        // bob (in no group) signs in for the app: Latchkey stops him on the way back.
        const res = await bob.goto(target());
        assert.equal(res.status(), 403);
        assert.equal(await bob.locator('h1').innerText(), 'No access');
        assert.match(await bob.locator('main').innerText(), new RegExp(`may not use ${kind} app`));
        assert.equal(new URL(bob.url()).origin, latchkey.url);

        // alice, with a proxy cookie, at an app for "ops" only: the proxy's own refusal
        // (nginx: error_page 403 to /proxy/denied; Caddy: Latchkey's 403 page as it is).
        const ops = appUrl(kind, OPS, '/dashboard');
        const denied = await alice.goto(ops);
        assert.equal(denied.status(), 403);
        assert.equal(await alice.locator('h1').innerText(), 'No access');
        assert.match(await alice.locator('main').innerText(), /may not use Ops/);
        if (kind === 'nginx') {
          assert.ok(alice.url().startsWith(at('/proxy/denied?rd=')), alice.url());
        } else {
          // Caddy (and Traefik) show Latchkey's 403 page at the app's own host: its
          // stylesheet and links are Latchkey's all the same.
          assert.equal(alice.url(), ops);
        }
        assert.ok(await styled(alice), 'the no-access page has its stylesheet');
        await shoot(alice, `proxy-no-access-${kind}`);
        assert.equal(backend.seen.length, seen, 'nothing reached the backend');
      });

      test('a passkey-only app sends a password session through a passkey sign-in, then lets it in', async () => {
        const vault = appUrl(kind, VAULT, '/secrets?id=7');
        await alice.goto(vault);
        const u = new URL(alice.url());
        assert.equal(u.origin, latchkey.url, `sent to Latchkey, at ${alice.url()}`);
        assert.equal(u.pathname, '/login');
        assert.equal(u.searchParams.get('require'), 'passkey');
        assert.match(await alice.locator('[data-step-up]').innerText(), /needs a passkey/);
        assert.equal(await alice.getByText('Use a password instead').count(), 0, 'no password form on a passkey step-up');
        await shoot(alice, `proxy-step-up-${kind}`);
        await presence(true);
        await alice.getByRole('button', { name: 'Sign in with a passkey' }).click();
        await alice.waitForURL(vault);
        await presence(false);
        const echo = await echoOf(alice);
        assert.equal(echo.url, '/secrets?id=7');
        assert.deepEqual(headerValues(echo, 'Remote-User'), ['alice']);
        // The stronger session works for the other app too.
        await alice.goto(target());
        assert.deepEqual(headerValues(await echoOf(alice), 'Remote-User'), ['alice']);
      });

      test('signing out at Latchkey locks the app at the next request', async () => {
        await alice.goto(target());
        assert.deepEqual(headerValues(await echoOf(alice), 'Remote-User'), ['alice']);
        await alice.goto(at('/account'));
        await alice.getByRole('button', { name: 'Sign out' }).first().click();
        await alice.waitForURL(at('/login'));
        const seen = backend.seen.length;
        await alice.goto(target());
        assert.equal(signInFor(alice), target(), `sent to sign in, at ${alice.url()}`);
        assert.equal(backend.seen.length, seen, 'nothing reached the backend');
      });

      test('a session revoked from another device locks the app at the next request', async () => {
        // alice signs in again through the app.
        await alice.goto(target());
        await passwordSignIn(alice, 'alice');
        await alice.waitForURL(target());
        assert.deepEqual(headerValues(await echoOf(alice), 'Remote-User'), ['alice']);

        // Her phone signs the laptop out at /account/security.
        const phone = await signedInPage('alice', 'Alice');
        try {
          await phone.goto(at('/account/security'));
          assert.ok(await phone.locator('[data-session-row]').count() >= 2);
          await phone.getByRole('button', { name: 'Sign out everywhere else' }).click();
          await phone.waitForURL(/done=others_revoked/);
          assert.equal(await phone.locator('[data-session-row]').count(), 1);
          assert.deepEqual(scriptProblems(phone), []);
        } finally {
          await phone.context().close();
        }

        const seen = backend.seen.length;
        await alice.goto(target());
        assert.equal(signInFor(alice), target(), `sent to sign in, at ${alice.url()}`);
        assert.equal(backend.seen.length, seen, 'nothing reached the backend');
      });
    });
  }
});
