// Real reverse proxies in front of a tiny backend, for the forward-auth tests: Debian's
// nginx (auth_request) and Caddy (forward_auth), each unprivileged on a free loopback
// port with a private config, logs and temp files under a temp dir. Their configs are
// the README's recipes ("Protect a web app behind a reverse proxy"), read from
// README.md with only the names, ports and addresses of this run put in: a recipe that
// stops working fails these tests.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, what, child, logOf) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening\n${await logOf()}`);
    }
    const open = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within 15 s\n${await logOf()}`);
    await sleep(50);
  }
}

/**
 * The fenced code block that follows the paragraph starting with `intro` in the
 * README's proxy section: the recipe as a reader would copy it.
 */
export async function readmeRecipe(intro) {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('## Protect a web app behind a reverse proxy');
  if (start < 0) throw new Error('README.md has no section "Protect a web app behind a reverse proxy"');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 3));
  const at = section.indexOf(`\n${intro}`);
  if (at < 0) throw new Error(`README.md's proxy section has no paragraph starting "${intro}"`);
  const block = section.slice(at).match(/\n```[a-z]*\n([\s\S]*?)\n```/);
  if (!block) throw new Error(`no code block after "${intro}" in README.md`);
  return block[1];
}

/** Replace `from` with `to` in a recipe, failing when the recipe no longer has `from`. */
function put(text, from, to) {
  if (!text.includes(from)) throw new Error(`the README recipe no longer contains ${JSON.stringify(from)}:\n${text}`);
  return text.split(from).join(to);
}

/**
 * The backend behind both proxies: answers every request with 200 and, as JSON, the
 * method, URL and headers it received (`rawHeaders` too, so a header sent twice shows).
 * `seen` lists every request, in order.
 */
export async function startBackend() {
  const seen = [];
  const server = createHttpServer((req, res) => {
    const echo = { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders };
    seen.push(echo);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(echo));
  });
  // Keep-alive connections from the proxies must not hold close() up, nor the server
  // keep a test process that failed before close() alive.
  server.keepAliveTimeout = 1_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address();
  return {
    port,
    seen,
    close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections?.();
    }),
  };
}

/** Every value of header `name` in an echo's raw headers (any spelling of the name). */
export function headerValues(echo, name) {
  const out = [];
  for (let i = 0; i < echo.rawHeaders.length; i += 2) {
    if (echo.rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(echo.rawHeaders[i + 1]);
  }
  return out;
}

/**
 * One request to a proxy without a browser: `host` goes in the Host header (with the
 * proxy's port), the connection to 127.0.0.1. Redirects are not followed.
 */
export function proxyGet(proxy, host, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: proxy.port,
      path: urlPath,
      method: 'GET',
      headers: { host: `${host}:${proxy.port}`, ...headers },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${proxy.name} within 10 s`)));
    req.end();
  });
}

/** Start a proxy process and return what the tests need of it. */
async function startProcess({ name, cmd, args, env, dir, port, logOf }) {
  if (!existsSync(cmd)) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${cmd} not found: apt-get install ${name} (scripts/test does)`);
  }
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let output = '';
  for (const s of [child.stdout, child.stderr]) {
    s.setEncoding('utf8');
    s.on('data', (c) => { output += c; });
  }
  child.on('error', (err) => { output += `\n(harness) could not run ${cmd}: ${err.message}\n`; });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();
  const log = async () => `--- ${name} output ---\n${output}\n${(await logOf?.()) ?? ''}--- end of ${name} output ---`;
  const exited = new Promise((r) => child.once('close', r));
  try {
    await waitForPort(port, name, child, log);
  } catch (e) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw e;
  }
  return {
    name,
    port,
    dir,
    log,
    async stop() {
      child.ref();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's nginx with the README's auth_request recipe, for `hosts`, on a free port:
 * `nginx -p DIR -e DIR/error.log -c DIR/nginx.conf -g 'daemon off;'`.
 */
export async function startNginx({ latchkey, backend, hosts }) {
  const recipe = await readmeRecipe('nginx (`auth_request`');
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-nginx-'));
  // Run as root (CI), nginx's workers are "nobody": they must reach their temp dirs.
  await chmod(dir, 0o755);
  const port = await freePort();
  let server = recipe;
  server = put(server, 'listen 443 ssl;', `listen 127.0.0.1:${port};`);
  server = put(server, 'server_name sonarr.example.org;', `server_name ${hosts.join(' ')};`);
  server = put(server, '127.0.0.1:1411', `127.0.0.1:${latchkey.port}`);
  server = put(server, '127.0.0.1:8989', `127.0.0.1:${backend.port}`);
  server = put(server, 'https://sso.example.org', latchkey.url);
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  await writeFile(conf, [
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${errorLog} info;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${dir}/access.log;`,
    `    client_body_temp_path ${dir}/client_body;`,
    `    proxy_temp_path ${dir}/proxy;`,
    `    fastcgi_temp_path ${dir}/fastcgi;`,
    `    uwsgi_temp_path ${dir}/uwsgi;`,
    `    scgi_temp_path ${dir}/scgi;`,
    '    # The README recipe, as written there but for names and ports:',
    server.replace(/^/gm, '    '),
    '}',
    '',
  ].join('\n'));
  const proxy = await startProcess({
    name: 'nginx',
    cmd: '/usr/sbin/nginx',
    args: ['-p', `${dir}/`, '-e', errorLog, '-c', conf, '-g', 'daemon off;'],
    env: { PATH: process.env.PATH },
    dir,
    port,
    logOf: async () => `${await readFile(errorLog, 'utf8').catch(() => '(no error.log)')}\n--- nginx.conf ---\n${await readFile(conf, 'utf8')}\n`,
  });
  return { ...proxy, conf };
}

/**
 * Debian's Caddy with the README's forward_auth recipe, for `hosts`, on a free port:
 * `caddy run --config DIR/Caddyfile --adapter caddyfile`, no admin endpoint, no HTTPS,
 * its data and config dirs under DIR.
 */
export async function startCaddy({ latchkey, backend, hosts }) {
  const recipe = await readmeRecipe('Caddy (`forward_auth`');
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-caddy-'));
  const port = await freePort();
  let site = recipe;
  site = put(site, 'sonarr.example.org {', `${hosts.map((h) => `http://${h}:${port}`).join(', ')} {`);
  site = put(site, '127.0.0.1:1411', `127.0.0.1:${latchkey.port}`);
  site = put(site, '127.0.0.1:8989', `127.0.0.1:${backend.port}`);
  const conf = path.join(dir, 'Caddyfile');
  await writeFile(conf, [
    '{',
    '\tadmin off',
    '\tauto_https off',
    '\tdefault_bind 127.0.0.1',
    '\tgrace_period 1s',
    '}',
    '# The README recipe, as written there but for names and ports:',
    site,
    '',
  ].join('\n'));
  const proxy = await startProcess({
    name: 'caddy',
    cmd: '/usr/bin/caddy',
    args: ['run', '--config', conf, '--adapter', 'caddyfile'],
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_DATA_HOME: path.join(dir, 'data'),
    },
    dir,
    port,
    logOf: async () => `--- Caddyfile ---\n${await readFile(conf, 'utf8')}\n`,
  });
  return { ...proxy, conf };
}
