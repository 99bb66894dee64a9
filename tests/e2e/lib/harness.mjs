// The end-to-end harness: the real latchkey binary, Debian's Chromium driven by
// playwright-core, and a CDP WebAuthn virtual authenticator. No mocks: every test
// talks HTTP to a server process of its own.
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The binary under test: $LATCHKEY_BIN, else the debug build cargo would make. */
export function latchkeyBin() {
  if (process.env.LATCHKEY_BIN) return path.resolve(process.env.LATCHKEY_BIN);
  // Cargo resolves a relative CARGO_TARGET_DIR against its working directory.
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'latchkey');
}

// Ask the kernel for a free port, then release it for latchkey. Another process could
// take it in between; on loopback in a test run that is rare enough to accept.
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start latchkey on a free port with a fresh data dir (SQLite) and wait until
 * /healthz answers 200. `env` adds or overrides LATCHKEY_* settings. `host` is the
 * name in its public URL (LATCHKEY_APP_URL), `localhost` unless the browser is told
 * where another name lives (launchBrowser's `--host-resolver-rules`); the server
 * listens on 127.0.0.1 either way, and `local` is that address for Node's own fetches.
 */
export async function startLatchkey({ env = {}, host = 'localhost' } = {}) {
  const bin = latchkeyBin();
  if (!existsSync(bin)) {
    throw new Error(`latchkey binary not found at ${bin}: run \`cargo build\` or set LATCHKEY_BIN`);
  }
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'latchkey-e2e-'));
  const url = `http://${host}:${port}`;
  const local = `http://127.0.0.1:${port}`;
  // A clean environment, so a developer's own LATCHKEY_* settings cannot leak in.
  // The public URL uses "localhost": WebAuthn refuses an IP address as RP ID.
  const fullEnv = {
    PATH: process.env.PATH,
    LATCHKEY_LISTEN: `127.0.0.1:${port}`,
    LATCHKEY_APP_URL: url,
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_LOG_FORMAT: 'json',
    ...env,
  };

  const lines = [];
  const child = spawn(bin, [], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop();
      lines.push(...parts);
    });
    stream.on('end', () => rest && lines.push(rest));
  }
  // 'close' rather than 'exit': by then the last log lines have been read.
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? 128 + constants.signals[signal]));
    child.on('error', (err) => {
      lines.push(`(harness) could not run ${bin}: ${err.message}`);
      resolve(-1);
    });
  });
  let exitCode;
  exited.then((c) => { exitCode = c; });
  // A test that fails before stop() must neither hang its file nor leave a server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();

  const log = () => lines.join('\n');
  const fail = (why) => new Error(`${why}\n--- latchkey log (${bin}) ---\n${log()}\n--- end of log ---`);
  const abort = async (why) => {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    await rm(dataDir, { recursive: true, force: true });
    return fail(why);
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exitCode !== undefined) throw await abort(`latchkey exited with status ${exitCode} before it was healthy`);
    try {
      const res = await fetch(`${local}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw await abort(`latchkey did not answer 200 on ${local}/healthz within 15 s`);
    await sleep(100);
  }
  // stderr is read on its own schedule: wait for the start line, which latchkey writes
  // after the setup block, so that setupUrl() below sees everything.
  while (!log().includes('"server.started"')) {
    if (Date.now() > deadline) throw await abort('latchkey never logged server.started');
    await sleep(20);
  }

  let stopping;
  return {
    url,
    local,
    port,
    dataDir,
    env: fullEnv,
    /** Everything the server printed so far, one line each. */
    log,
    /** An Error with this message and the server log, for a test's own checks. */
    fail,
    /** The one-time setup link, from the `setup.pending` log event. */
    setupUrl() {
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const ev = JSON.parse(line);
          if (ev.event === 'setup.pending') return ev.setup_url;
        } catch {
          // not a JSON line
        }
      }
      return undefined;
    },
    /** Run a latchkey subcommand against the same settings and data dir. */
    cli(args) {
      return new Promise((resolve) => {
        execFile(bin, args, { env: fullEnv, timeout: 30_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
        });
      });
    },
    /** SIGTERM, wait for a graceful exit, return its status (128+n if killed by signal n). */
    stop() {
      stopping ??= (async () => {
        // Keep this test process alive until the server has gone and its log is read.
        child.ref();
        child.stdout.ref?.();
        child.stderr.ref?.();
        if (exitCode === undefined) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(timer);
        process.off('exit', killOnExit);
        // Keep the data dir of an unclean exit for a look afterwards.
        if (code === 0) await rm(dataDir, { recursive: true, force: true });
        return code;
      })();
      return stopping;
    },
  };
}

/** Debian's Chromium: $CHROMIUM_BIN, else the real binary, else the wrapper script. */
export function chromiumBin() {
  // /usr/bin/chromium is a shell wrapper that prints a harmless warning; prefer the binary.
  const candidates = [process.env.CHROMIUM_BIN, '/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('Chromium not found: apt-get install chromium, or set CHROMIUM_BIN');
  return found;
}

const pageErrors = new WeakMap();

/**
 * Headless Chromium. launch() gives every run a fresh temporary profile (user data
 * dir) that playwright deletes on close. One context = one cookie jar. `args` are
 * added to the command line (e.g. `--host-resolver-rules=...`).
 */
export async function launchBrowser({ args = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: chromiumBin(),
    headless: true,
    args: [
      '--no-sandbox', // we run as root in CI
      '--disable-gpu',
      '--disable-quic',
      // No traffic of its own: the machine reaches only package registries.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...args,
    ],
  });
  const context = await browser.newContext();
  return {
    browser,
    context,
    /**
     * A page whose console errors and uncaught exceptions are recorded; in `inContext`
     * (another cookie jar, from browser.newContext()) when given.
     */
    async newPage(inContext = context) {
      const page = await inContext.newPage();
      const errors = [];
      pageErrors.set(page, errors);
      // CSP violations are reported as console errors.
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const where = msg.location().url;
        errors.push(`console: ${msg.text()} (${where})`);
      });
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      return page;
    },
    close: () => browser.close(),
  };
}

/** Console errors and uncaught exceptions of a page made by newPage(), so far. */
export function consoleErrors(page) {
  const errors = pageErrors.get(page);
  if (!errors) throw new Error('consoleErrors: the page was not made by launchBrowser().newPage()');
  return [...errors];
}

/**
 * A CDP virtual authenticator on this page: a platform passkey authenticator with
 * user verification that says yes by itself. Credentials live in this page's target.
 */
export async function addVirtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      return credentials;
    },
  };
}
