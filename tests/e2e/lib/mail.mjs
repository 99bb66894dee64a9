// A real SMTP server for the e2e tests: aiosmtpd (from the virtualenv scripts/test
// makes, found through LATCHKEY_TEST_MAIL_PYTHON) requiring STARTTLS, with a
// certificate from a throwaway CA made with openssl; messages land in a Maildir that
// tests/mail/read_maildir.py reads back (parts decoded).
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function python() {
  const py = process.env.LATCHKEY_TEST_MAIL_PYTHON;
  if (!py || !existsSync(py)) {
    throw new Error('LATCHKEY_TEST_MAIL_PYTHON is not set (or missing): run scripts/test, which installs aiosmtpd from tests/mail/requirements.txt');
  }
  return py;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function makePki(dir) {
  const f = (name) => path.join(dir, name);
  await writeFile(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=Latchkey e2e CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')]);
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', f('server.ext'), '-out', f('server.pem')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

/** Start aiosmtpd with STARTTLS required; `env` gives the LATCHKEY_SMTP_* settings for it. */
export async function startSmtp() {
  const py = python();
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-smtp-'));
  const pki = await makePki(dir);
  const port = await freePort();
  const maildir = path.join(dir, 'Maildir');
  const child = spawn(py, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '--tlscert', pki.cert, '--tlskey', pki.key,
    '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: 'ignore' });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`aiosmtpd did not listen on ${port}`);
    await sleep(50);
  }
  const messages = async () => {
    if (!existsSync(path.join(maildir, 'new'))) return [];
    const { stdout } = await run(py, [path.join(repoRoot, 'tests/mail/read_maildir.py'), maildir]);
    return JSON.parse(stdout);
  };
  return {
    env: {
      LATCHKEY_SMTP_HOST: 'localhost',
      LATCHKEY_SMTP_PORT: String(port),
      LATCHKEY_SMTP_SECURITY: 'starttls',
      LATCHKEY_SMTP_FROM: 'sso@example.org',
      LATCHKEY_SMTP_CA_FILE: pki.ca,
    },
    messages,
    /** The first message to `to` whose subject contains `subject`, waiting up to a minute. */
    async waitFor(to, subject) {
      const until = Date.now() + 60_000;
      for (;;) {
        const found = (await messages()).find((m) => (m.headers.to ?? '').includes(to) && (m.headers.subject ?? '').includes(subject));
        if (found) return found;
        if (Date.now() > until) throw new Error(`no message to ${to} about "${subject}" arrived`);
        await sleep(200);
      }
    },
    async stop() {
      child.kill('SIGTERM');
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The first link in a message's text part that starts with `prefix`. */
export function linkIn(message, prefix) {
  const text = message.text ?? '';
  const at = text.indexOf(prefix);
  if (at < 0) throw new Error(`no link ${prefix}… in:\n${text}`);
  return text.slice(at).split(/\s/)[0];
}
