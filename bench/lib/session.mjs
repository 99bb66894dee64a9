// Signs users in to a provider with plain HTTP requests (no browser) and prints the
// Cookie header of each resulting session, one a line, for the authorization-code
// benchmark.
//
//   node session.mjs latchkey  AUTHORIZE_URL APP_ORIGIN LOGIN_LINK_URL…
//   node session.mjs reference AUTHORIZE_URL LOGIN…
//
// Latchkey: open the one-time login link (sets the CSRF cookie, page has the CSRF
// field), then submit it with the Origin header a browser would send.
// Reference: walk oidc-provider's built-in login and consent forms once, so that the
// session remembers the consent (Latchkey's bench client skips consent instead).
//
// Either way it then checks that AUTHORIZE_URL answers with a redirect carrying a
// code, so that the benchmark never runs against a login page, and exits 1 if not.

const [mode, authorizeUrl, ...rest] = process.argv.slice(2);

// A small cookie jar per user: name -> { value, path }; enough for two well-behaved
// servers. `jar` is the one of the user being signed in.
let jar = new Map();
function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';').map((s) => s.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const pathAttr = attributes.find((a) => a.toLowerCase().startsWith('path='));
    const expired = attributes.some((a) => /^max-age=0$/i.test(a)) || value === '';
    if (expired) jar.delete(name);
    else jar.set(name, { value, path: pathAttr ? pathAttr.slice(5) : '/' });
  }
}
function cookieHeader(url) {
  const path = new URL(url).pathname;
  return [...jar]
    .filter(([, c]) => path.startsWith(c.path))
    .map(([name, c]) => `${name}=${c.value}`)
    .join('; ');
}
async function request(url, options = {}) {
  const response = await fetch(url, {
    ...options,
    redirect: 'manual',
    headers: { ...options.headers, cookie: cookieHeader(url) },
  });
  remember(response);
  return response;
}
function fail(message) {
  console.error(`session.mjs: ${message}`);
  process.exit(1);
}

async function latchkeySession(loginLink, appOrigin) {
  const page = await request(loginLink);
  const html = await page.text();
  const csrf = html.match(/name="csrf" value="([^"]+)"/)?.[1];
  if (page.status !== 200 || !csrf) fail(`login link page: HTTP ${page.status}, no csrf field`);
  const submitted = await request(loginLink, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: appOrigin },
    body: new URLSearchParams({ csrf }).toString(),
  });
  if (!jar.has('latchkey_session')) fail(`login link submit: HTTP ${submitted.status}, no session cookie`);
}

async function referenceSession(redirectUri, login) {
  // Follow redirects; answer each form (login, then consent) the way a user would.
  let url = authorizeUrl;
  for (let step = 0; step < 12; step += 1) {
    const response = await request(url);
    const location = response.headers.get('location');
    if (location?.startsWith(redirectUri)) return;
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const html = await response.text();
    const prompt = html.match(/name="prompt" value="(\w+)"/)?.[1];
    if (!prompt) fail(`unexpected page at ${url}: HTTP ${response.status}`);
    const answer = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt, login, password: 'unused' }).toString(),
    });
    const next = answer.headers.get('location');
    if (!next) fail(`${prompt} form at ${url}: HTTP ${answer.status}, no redirect`);
    url = new URL(next, url).href;
  }
  fail('too many redirects while signing in to the reference');
}

const redirectUri = new URL(authorizeUrl).searchParams.get('redirect_uri');
if (mode !== 'latchkey' && mode !== 'reference') fail('mode must be latchkey or reference');
const appOrigin = mode === 'latchkey' ? rest.shift() : undefined;
if (rest.length === 0) fail('name at least one login link (latchkey) or login (reference)');

for (const who of rest) {
  jar = new Map();
  if (mode === 'latchkey') await latchkeySession(who, appOrigin);
  else await referenceSession(redirectUri, who);

  // The session must now get a code straight away.
  const check = await request(authorizeUrl);
  const location = check.headers.get('location') ?? '';
  if (!location.startsWith(redirectUri) || !/[?&]code=/.test(location)) {
    fail(`${mode}: the signed-in authorize request answered HTTP ${check.status} -> ${location || '(no redirect)'}`);
  }
  console.log(cookieHeader(authorizeUrl));
}
