//! A real OpenLDAP `slapd`, started by a test, as the upstream directory Latchkey syncs
//! users from (Latchkey the LDAP client). Its own temp dir, `slapd.conf`, an mdb
//! database seeded with [`Slapd::seed_ldif`], TLS from [`support::test_pki`], and two
//! listeners: `ldap://` (StartTLS available, plain binds allowed) and `ldaps://`.
//!
//! Everything here is synchronous (`std::process`); each call blocks for well under
//! the few seconds an async test can afford, except `stop`/`restart` with clients
//! still connected (slapd may take ~2 s to exit on SIGTERM).
//!
//! Needs `slapd` and `ldap-utils` (scripts/test installs them).

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support;

pub const BASE: &str = "dc=example,dc=org";
/// The rootdn: no ACL and no size limit applies to it.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PW: &str = "slapd-admin-pw";
/// A service account that may read people and groups (not `userPassword`): what an
/// administrator gives Latchkey to sync with.
pub const READER_DN: &str = "cn=reader,ou=services,dc=example,dc=org";
pub const READER_PW: &str = "slapd-reader-pw";
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
pub const SERVICES_DN: &str = "ou=services,dc=example,dc=org";

/// A person in the seed: `uid=UID,ou=people,…`, inetOrgPerson + posixAccount, with
/// `cn` "GIVEN SN", `homeDirectory` /home/UID, `gidNumber` = `uidNumber`, and a
/// clear-text `userPassword` (slapd compares it on bind; the reader cannot read it).
pub struct SeedUser {
    pub uid: &'static str,
    pub given_name: &'static str,
    pub sn: &'static str,
    pub mail: &'static str,
    pub password: &'static str,
    pub uid_number: u32,
}

impl SeedUser {
    pub fn dn(&self) -> String {
        user_dn(self.uid)
    }

    pub fn cn(&self) -> String {
        format!("{} {}", self.given_name, self.sn)
    }
}

pub const SEED_USERS: [SeedUser; 5] = [
    SeedUser {
        uid: "alice",
        given_name: "Alice",
        sn: "Archer",
        mail: "alice@example.org",
        password: "alice-directory-pw",
        uid_number: 10001,
    },
    SeedUser {
        uid: "bob",
        given_name: "Bob",
        sn: "Baker",
        mail: "bob@example.org",
        password: "bob-directory-pw",
        uid_number: 10002,
    },
    SeedUser {
        uid: "carol",
        given_name: "Carol",
        sn: "Clark",
        mail: "carol@example.org",
        password: "carol-directory-pw",
        uid_number: 10003,
    },
    SeedUser {
        uid: "dave",
        given_name: "Dave",
        sn: "Dunn",
        mail: "dave@example.org",
        password: "dave-directory-pw",
        uid_number: 10004,
    },
    SeedUser {
        uid: "erin",
        given_name: "Erin",
        sn: "Ellis",
        mail: "erin@example.org",
        password: "erin-directory-pw",
        uid_number: 10005,
    },
];

/// The seed user with this uid (panics if there is none).
pub fn seed_user_by_uid(uid: &str) -> &'static SeedUser {
    SEED_USERS
        .iter()
        .find(|u| u.uid == uid)
        .unwrap_or_else(|| panic!("no seed user {uid}"))
}

pub enum GroupKind {
    /// `groupOfNames`: `member` holds user DNs.
    GroupOfNames,
    /// `posixGroup` with this `gidNumber`: `memberUid` holds uids.
    PosixGroup { gid_number: u32 },
}

/// A group in the seed: `cn=CN,ou=groups,…`, with these seed users (by uid) as members.
pub struct SeedGroup {
    pub cn: &'static str,
    pub kind: GroupKind,
    pub members: &'static [&'static str],
}

impl SeedGroup {
    pub fn dn(&self) -> String {
        group_dn(self.cn)
    }
}

pub const STAFF_GID: u32 = 5000;

pub const SEED_GROUPS: [SeedGroup; 3] = [
    SeedGroup {
        cn: "developers",
        kind: GroupKind::GroupOfNames,
        members: &["alice", "bob"],
    },
    SeedGroup {
        cn: "latchkey-admins",
        kind: GroupKind::GroupOfNames,
        members: &["alice"],
    },
    SeedGroup {
        cn: "staff",
        kind: GroupKind::PosixGroup {
            gid_number: STAFF_GID,
        },
        members: &["carol", "dave"],
    },
];

/// `uid=UID,ou=people,dc=example,dc=org`
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

/// `cn=CN,ou=groups,dc=example,dc=org`
pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

#[derive(Default)]
pub struct Options {
    /// Active Directory's MaxPageSize, imitated: for every bind but the rootdn, an
    /// unpaged search matching more than N entries fails with sizeLimitExceeded (4)
    /// after N entries, while a paged search returns everything. slapd does not cap a
    /// larger page to N as AD does: a page size above N is served as asked. `None`:
    /// no limit at all (not even slapd's default of 500).
    pub size_limit: Option<u32>,
    /// slapd's `size.prtotal`: a paged search stops with sizeLimitExceeded (4) after
    /// this many entries in all, as an administrative limit would cut it off.
    pub paged_total_limit: Option<u32>,
}

pub struct Slapd {
    /// `ldap://localhost:PORT`: plain, or StartTLS with `ca_file`.
    pub ldap_url: String,
    /// `ldaps://localhost:PORT2`
    pub ldaps_url: String,
    /// The same two listeners by address (`ldap://127.0.0.1:PORT`, …). OpenLDAP's own
    /// tools (ldapsearch, ldapwhoami) must use these for TLS: libldap checks a
    /// certificate for the host `localhost` against the machine's hostname instead.
    pub ldap_ip_url: String,
    pub ldaps_ip_url: String,
    /// The CA that issued slapd's certificate (for `localhost` and `127.0.0.1`).
    pub ca_file: PathBuf,
    ports: (u16, u16),
    dir: TempDir,
    child: Option<Child>,
}

impl Slapd {
    /// A fresh slapd holding [`Slapd::seed_ldif`], answering on both listeners.
    pub fn start(opts: Options) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = support::test_pki(dir.path());
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let conf = config(dir.path(), &db, (&ca, &cert, &key), &opts);
        let conf_file = dir.path().join("slapd.conf");
        std::fs::write(&conf_file, conf).unwrap();

        // Seeded offline: slapadd writes the operational attributes (entryUUID,
        // entryCSN, timestamps) as an online add would.
        let seed = dir.path().join("seed.ldif");
        std::fs::write(&seed, Self::seed_ldif()).unwrap();
        let out = run(
            Command::new(sbin("slapadd")).args([
                "-q".as_ref(),
                "-f".as_ref(),
                conf_file.as_os_str(),
                "-l".as_ref(),
                seed.as_os_str(),
            ]),
            None,
        );
        assert!(out.status.success(), "slapadd: {}", support::stderr(&out));

        let ports = (support::free_port(), support::free_port());
        let mut slapd = Slapd {
            ldap_url: format!("ldap://localhost:{}", ports.0),
            ldaps_url: format!("ldaps://localhost:{}", ports.1),
            ldap_ip_url: format!("ldap://127.0.0.1:{}", ports.0),
            ldaps_ip_url: format!("ldaps://127.0.0.1:{}", ports.1),
            ca_file: ca,
            ports,
            dir,
            child: None,
        };
        slapd.spawn();
        slapd
    }

    /// The default content: `BASE` (dcObject + organization), `ou=people`,
    /// `ou=groups`, `ou=services` with `READER_DN`, then [`SEED_USERS`] and
    /// [`SEED_GROUPS`].
    pub fn seed_ldif() -> String {
        let mut ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
        );
        for dn in [PEOPLE_DN, GROUPS_DN, SERVICES_DN] {
            let ou = &dn[3..dn.find(',').unwrap()];
            ldif.push_str(&format!(
                "dn: {dn}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
            ));
        }
        ldif.push_str(&format!(
            "dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: reader\nuserPassword: {READER_PW}\n\n"
        ));
        for u in &SEED_USERS {
            ldif.push_str(&format!(
                "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: {uid}\n\
                 cn: {cn}\nsn: {sn}\ngivenName: {given}\nmail: {mail}\nuidNumber: {n}\n\
                 gidNumber: {n}\nhomeDirectory: /home/{uid}\nuserPassword: {pw}\n\n",
                dn = u.dn(),
                uid = u.uid,
                cn = u.cn(),
                sn = u.sn,
                given = u.given_name,
                mail = u.mail,
                n = u.uid_number,
                pw = u.password,
            ));
        }
        for g in &SEED_GROUPS {
            ldif.push_str(&format!("dn: {}\ncn: {}\n", g.dn(), g.cn));
            match g.kind {
                GroupKind::GroupOfNames => {
                    ldif.push_str("objectClass: groupOfNames\n");
                    for m in g.members {
                        ldif.push_str(&format!("member: {}\n", user_dn(m)));
                    }
                }
                GroupKind::PosixGroup { gid_number } => {
                    ldif.push_str(&format!(
                        "objectClass: posixGroup\ngidNumber: {gid_number}\n"
                    ));
                    for m in g.members {
                        ldif.push_str(&format!("memberUid: {m}\n"));
                    }
                }
            }
            ldif.push('\n');
        }
        ldif
    }

    /// `ldapmodify` as the rootdn over `ldap://`: LDIF change records (`changetype:
    /// add`/`modify`/`delete`/`modrdn`). Panics with slapd's answer if any fails.
    pub fn ldapmodify(&self, ldif: &str) {
        self.admin_tool("ldapmodify", &[], Some(ldif));
    }

    /// `ldapmodify -a`: records without a `changetype` are adds.
    pub fn ldapadd(&self, ldif: &str) {
        self.admin_tool("ldapmodify", &["-a"], Some(ldif));
    }

    /// Delete one entry (it must have no children).
    pub fn delete(&self, dn: &str) {
        self.admin_tool("ldapdelete", &[dn], None);
    }

    /// The entry's operational `entryUUID`.
    pub fn entry_uuid(&self, dn: &str) -> String {
        let out = self.admin_tool(
            "ldapsearch",
            &[
                "-LLL",
                "-s",
                "base",
                "-b",
                dn,
                "(objectClass=*)",
                "entryUUID",
            ],
            None,
        );
        support::stdout(&out)
            .lines()
            .find_map(|l| l.strip_prefix("entryUUID: "))
            .unwrap_or_else(|| panic!("{dn} has no entryUUID: {}", support::stdout(&out)))
            .to_string()
    }

    /// How many entries under `base` (the base included, whole subtree) match
    /// `filter`, searched as the rootdn. 0 when `base` does not exist.
    pub fn count(&self, base: &str, filter: &str) -> usize {
        let out = self.tool("ldapsearch", &["-LLL", "-b", base, filter, "1.1"], None);
        match out.status.code() {
            Some(0) => support::stdout(&out)
                .lines()
                .filter(|l| l.starts_with("dn:"))
                .count(),
            Some(32) => 0,
            _ => panic!(
                "ldapsearch -b {base} {filter}: {}{}",
                support::stdout(&out),
                support::stderr(&out)
            ),
        }
    }

    /// Restart with other limits, same ports and data.
    pub fn reconfigure(&mut self, opts: Options) {
        self.stop();
        let d = self.dir.path();
        let conf = config(
            d,
            &d.join("db"),
            (
                &d.join("ca.pem"),
                &d.join("server.pem"),
                &d.join("server.key"),
            ),
            &opts,
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        self.spawn();
    }

    /// An unpaged search as the reader: how many entries, or the LDAP result code.
    pub fn count_as_reader(&self, base: &str, filter: &str) -> Result<usize, i32> {
        let mut cmd = Command::new("ldapsearch");
        cmd.env("LDAPNOINIT", "1")
            .args(["-x", "-o", "nettimeout=10", "-H", &self.ldap_ip_url])
            .args([
                "-D", READER_DN, "-w", READER_PW, "-LLL", "-b", base, filter, "1.1",
            ]);
        let out = run(&mut cmd, None);
        match out.status.code() {
            Some(0) => Ok(support::stdout(&out)
                .lines()
                .filter(|l| l.starts_with("dn:"))
                .count()),
            Some(code) => Err(code),
            None => Err(-1),
        }
    }

    /// SIGTERM, wait (SIGKILL after 5 s). The data stays for [`Slapd::restart`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop if running, and start again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// slapd's standard error so far (configuration errors, with `-d 0`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Run slapd in the foreground (`-d 0`) and wait until both listeners accept and
    /// a search answers.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "slapd is already running");
        let log = std::fs::File::create(self.dir.path().join("slapd.log")).unwrap();
        let urls = format!("{}/ {}/", self.ldap_ip_url, self.ldaps_ip_url);
        let child = Command::new(sbin("slapd"))
            .arg("-d")
            .arg("0")
            .arg("-h")
            .arg(&urls)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("slapd runs (apt-get install slapd)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let up = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
        while !(up(self.ports.0) && up(self.ports.1)) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("slapd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not listen within 10 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(self.count(BASE, "(objectClass=dcObject)"), 1);
    }

    /// An OpenLDAP tool bound as the rootdn over `ldap://`; panics unless it succeeds.
    fn admin_tool(&self, prog: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let out = self.tool(prog, args, stdin);
        assert!(
            out.status.success(),
            "{prog} {args:?} ({}):\n{}{}{}",
            out.status,
            stdin.unwrap_or(""),
            support::stdout(&out),
            support::stderr(&out)
        );
        out
    }

    /// An OpenLDAP tool bound as the rootdn over plain `ldap://`, ignoring ldap.conf
    /// and `LDAP*` variables (`LDAPNOINIT`).
    fn tool(&self, prog: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(prog);
        cmd.env("LDAPNOINIT", "1")
            .args(["-x", "-o", "nettimeout=10", "-H", &self.ldap_ip_url])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PW])
            .args(args);
        run(&mut cmd, stdin)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `slapd.conf`: schemas, TLS, one mdb database, the ACLs and the size limit.
fn config(dir: &Path, db: &Path, (ca, cert, key): (&Path, &Path, &Path), opts: &Options) -> String {
    let size_limit = match opts.size_limit {
        // prtotal=unlimited: paged searches may return more than N in all. No
        // size.pr: slapd answers a page size above it with adminLimitExceeded (11),
        // where AD would silently cap the page.
        Some(n) => format!(
            "sizelimit size.soft={n} size.hard={n} size.prtotal={}",
            opts.paged_total_limit
                .map(|t| t.to_string())
                .unwrap_or_else(|| "unlimited".into())
        ),
        None => "sizelimit unlimited".to_string(),
    };
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
loglevel 0
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 104857600
suffix \"{BASE}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {db}
{size_limit}
index objectClass,uid,mail,cn,member,memberUid,entryUUID eq
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by dn.exact=\"{READER_DN}\" read
  by users read
  by * none
",
        dir = dir.display(),
        ca = ca.display(),
        cert = cert.display(),
        key = key.display(),
        db = db.display(),
    )
}

/// slapd and slapadd live in /usr/sbin, which a non-root PATH may lack.
fn sbin(name: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(name);
    if path.exists() {
        path
    } else {
        PathBuf::from(name)
    }
}

/// Run to completion with `stdin` fed in; killed (and the test failed) after 30 s.
fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (apt-get install slapd ldap-utils)"));
    // Threads for every pipe, so that neither side waits on a full one.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        })
    });
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
