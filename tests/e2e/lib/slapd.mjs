// A private OpenLDAP slapd for the directory tests: its own config and database under a
// temp dir, plain LDAP on loopback (the browser test is about the console; TLS to the
// directory is tested in tests/it/directory), seeded with five people and three groups.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BASE = 'dc=example,dc=org';
export const READER_DN = `cn=reader,ou=services,${BASE}`;
export const READER_PW = 'slapd-reader-pw';
export const PEOPLE = [
  ['alice', 'Alice', 'Archer'],
  ['bob', 'Bob', 'Baker'],
  ['carol', 'Carol', 'Clark'],
  ['dave', 'Dave', 'Dunn'],
  ['erin', 'Erin', 'Ellis'],
];
export const passwordOf = (uid) => `${uid}-directory-pw`;

const sbin = (name) => `/usr/sbin/${name}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

function seed() {
  let ldif = `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n`;
  for (const ou of ['people', 'groups', 'services']) {
    ldif += `dn: ou=${ou},${BASE}\nobjectClass: organizationalUnit\nou: ${ou}\n\n`;
  }
  ldif += `dn: ${READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: ${READER_PW}\n\n`;
  PEOPLE.forEach(([uid, given, sn], i) => {
    ldif += `dn: uid=${uid},ou=people,${BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: ${uid}\ncn: ${given} ${sn}\n`
      + `givenName: ${given}\nsn: ${sn}\nmail: ${uid}@example.org\nuidNumber: ${10001 + i}\ngidNumber: 5000\n`
      + `homeDirectory: /home/${uid}\nuserPassword: ${passwordOf(uid)}\n\n`;
  });
  const dn = (uid) => `uid=${uid},ou=people,${BASE}`;
  ldif += `dn: cn=developers,ou=groups,${BASE}\nobjectClass: groupOfNames\ncn: developers\nmember: ${dn('alice')}\nmember: ${dn('bob')}\n\n`;
  ldif += `dn: cn=latchkey-admins,ou=groups,${BASE}\nobjectClass: groupOfNames\ncn: latchkey-admins\nmember: ${dn('alice')}\n\n`;
  ldif += `dn: cn=staff,ou=groups,${BASE}\nobjectClass: posixGroup\ncn: staff\ngidNumber: 5000\nmemberUid: carol\nmemberUid: dave\n\n`;
  return ldif;
}

/** Start slapd on a free loopback port; `stop()` ends it and removes its files. */
export async function startSlapd() {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-slapd-'));
  const db = path.join(dir, 'db');
  await mkdir(db);
  const conf = path.join(dir, 'slapd.conf');
  await writeFile(conf, [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    `pidfile ${dir}/slapd.pid`,
    'database mdb',
    'maxsize 104857600',
    `suffix "${BASE}"`,
    `rootdn "cn=admin,${BASE}"`,
    'rootpw slapd-admin-pw',
    `directory ${db}`,
    'access to attrs=userPassword by self write by anonymous auth by * none',
    `access to * by dn.exact="${READER_DN}" read by users read by * none`,
    '',
  ].join('\n'));
  await writeFile(path.join(dir, 'seed.ldif'), seed());
  await run(sbin('slapadd'), ['-q', '-f', conf, '-l', path.join(dir, 'seed.ldif')]);
  const port = await freePort();
  const child = spawn(sbin('slapd'), ['-d', '0', '-h', `ldap://127.0.0.1:${port}/`, '-f', conf], { stdio: 'ignore' });
  child.unref();
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline) throw new Error('slapd did not listen within 10 s');
    await sleep(50);
  }
  return {
    url: `ldap://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { child.once('exit', r); setTimeout(r, 5_000); });
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
