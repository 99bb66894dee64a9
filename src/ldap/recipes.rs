//! How a client connects: ready-to-paste configurations for the common LDAP clients,
//! made from this server's own listeners and base DN (shown on `/admin/ldap`). The
//! SSSD and ldapsearch recipes are the ones the integration tests run; the others
//! are the settings those applications document, in their own words.

use std::net::SocketAddr;

use crate::config::Config;

/// Where and how a client reaches the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The host name clients use: the app URL's (the certificate names it).
    pub host: String,
    pub port: u16,
    /// LDAPS (`true`), or plain LDAP upgraded with StartTLS.
    pub ldaps: bool,
    pub base: String,
}

impl Connect {
    /// The preferred way in: LDAPS when it listens, else StartTLS; `None` when LDAP is
    /// off. `listening` is (plain, LDAPS) as bound.
    pub fn new(
        config: &Config,
        listening: (Option<SocketAddr>, Option<SocketAddr>),
    ) -> Option<Connect> {
        let host = config.app_url.host().to_string();
        let base = config.ldap_base().to_string();
        let (addr, ldaps): (SocketAddr, bool) = match (listening.1, listening.0) {
            (Some(addr), _) => (addr, true),
            (None, Some(addr)) => (addr, false),
            (None, None) => return None,
        };
        Some(Connect {
            host,
            port: addr.port(),
            ldaps,
            base,
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.ldaps { "ldaps" } else { "ldap" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    fn people(&self) -> String {
        format!("ou=people,{}", self.base)
    }

    fn groups(&self) -> String {
        format!("ou=groups,{}", self.base)
    }

    fn service(&self, name: &str) -> String {
        format!("cn={name},ou=services,{}", self.base)
    }
}

/// One client's configuration.
pub struct Recipe {
    /// Stable, for anchors and tests: `ldapsearch`, `sssd`, …
    pub id: &'static str,
    pub title: &'static str,
    /// Where the text goes.
    pub place: &'static str,
    pub text: String,
}

/// Every recipe, in the order the console shows them.
pub fn recipes(c: &Connect) -> Vec<Recipe> {
    vec![
        ldapsearch(c),
        sssd(c),
        jellyfin(c),
        nextcloud(c),
        gitea(c),
        grafana(c),
    ]
}

fn ldapsearch(c: &Connect) -> Recipe {
    let tls = if c.ldaps { "" } else { " -ZZ" };
    Recipe {
        id: "ldapsearch",
        title: "ldapsearch (ldap-utils)",
        place: "a shell; PASSWORD is the service account's",
        text: format!(
            "ldapsearch -x{tls} -H {url} \\\n  -D '{dn}' -w 'PASSWORD' \\\n  -b '{people}' '(uid=alice)' '*' '+'\n",
            url = c.url(),
            dn = c.service("reader"),
            people = c.people(),
        ),
    }
}

fn sssd(c: &Connect) -> Recipe {
    let starttls = if c.ldaps {
        ""
    } else {
        "ldap_id_use_start_tls = true\n"
    };
    Recipe {
        id: "sssd",
        title: "SSSD (Linux hosts: getent, id, PAM logins with an app password)",
        place: "/etc/sssd/sssd.conf, mode 0600, owned by root",
        text: format!(
            "[sssd]\nconfig_file_version = 2\nservices = nss, pam\ndomains = latchkey\n\n\
             [domain/latchkey]\nid_provider = ldap\nauth_provider = ldap\n\
             ldap_schema = rfc2307bis\nldap_group_object_class = groupOfNames\n\
             ldap_group_member = member\nldap_uri = {url}\n{starttls}\
             ldap_search_base = {base}\nldap_default_bind_dn = {dn}\n\
             ldap_default_authtok = PASSWORD\nldap_tls_reqcert = demand\n\
             auto_private_groups = true\n",
            url = c.url(),
            base = c.base,
            dn = c.service("sssd"),
        ),
    }
}

fn jellyfin(c: &Connect) -> Recipe {
    Recipe {
        id: "jellyfin",
        title: "Jellyfin (LDAP Authentication plugin)",
        place: "Dashboard → Plugins → LDAP-Auth; users sign in with an app password",
        text: format!(
            "LDAP Server:             {host}\nLDAP Port:               {port}\n\
             Secure LDAP:             {ldaps}\nStartTLS:                {starttls}\n\
             LDAP Bind User:          {dn}\nLDAP Bind User Password: PASSWORD\n\
             LDAP Base DN for searches: {people}\n\
             LDAP Search Filter:      (memberOf=cn=media,{groups})\n\
             LDAP Search Attributes:  uid, mail\nLDAP Uid Attribute:      uid\n\
             LDAP Username Attribute: uid\n\
             LDAP Admin Filter:       (memberOf=cn=admins,{groups})\n",
            host = c.host,
            port = c.port,
            ldaps = yes(c.ldaps),
            starttls = yes(!c.ldaps),
            dn = c.service("jellyfin"),
            people = c.people(),
            groups = c.groups(),
        ),
    }
}

fn nextcloud(c: &Connect) -> Recipe {
    let host = if c.ldaps {
        format!("ldaps://{}", c.host)
    } else {
        c.host.clone()
    };
    let tls = if c.ldaps { 0 } else { 1 };
    Recipe {
        id: "nextcloud",
        title: "Nextcloud (LDAP user and group backend)",
        place: "the Nextcloud host, as the web server's user (occ)",
        text: format!(
            "occ app:enable user_ldap\nocc ldap:create-empty-config   # prints the id, e.g. s01\n\
             occ ldap:set-config s01 ldapHost '{host}'\n\
             occ ldap:set-config s01 ldapPort {port}\n\
             occ ldap:set-config s01 ldapTLS {tls}\n\
             occ ldap:set-config s01 ldapAgentName '{dn}'\n\
             occ ldap:set-config s01 ldapAgentPassword 'PASSWORD'\n\
             occ ldap:set-config s01 ldapBase '{base}'\n\
             occ ldap:set-config s01 ldapBaseUsers '{people}'\n\
             occ ldap:set-config s01 ldapBaseGroups '{groups}'\n\
             occ ldap:set-config s01 ldapUserFilter '(objectClass=person)'\n\
             occ ldap:set-config s01 ldapLoginFilter '(&(objectClass=person)(|(uid=%uid)(mail=%uid)))'\n\
             occ ldap:set-config s01 ldapGroupFilter '(objectClass=groupOfNames)'\n\
             occ ldap:set-config s01 ldapGroupMemberAssocAttr member\n\
             occ ldap:set-config s01 ldapUserDisplayName cn\n\
             occ ldap:set-config s01 ldapEmailAttribute mail\n\
             occ ldap:set-config s01 ldapExpertUsernameAttr uid\n\
             occ ldap:set-config s01 ldapExpertUUIDUserAttr entryUUID\n\
             occ ldap:set-config s01 ldapExpertUUIDGroupAttr entryUUID\n\
             occ ldap:set-config s01 ldapPagingSize 500\n\
             occ ldap:set-config s01 ldapConfigurationActive 1\n",
            port = c.port,
            dn = c.service("nextcloud"),
            base = c.base,
            people = c.people(),
            groups = c.groups(),
        ),
    }
}

fn gitea(c: &Connect) -> Recipe {
    let protocol = if c.ldaps { "ldaps" } else { "starttls" };
    Recipe {
        id: "gitea",
        title: "Gitea / Forgejo",
        place: "the Gitea host, as the git user",
        text: format!(
            "gitea admin auth add-ldap --name latchkey \\\n  --security-protocol {protocol} \
             --host {host} --port {port} \\\n  --bind-dn '{dn}' --bind-password 'PASSWORD' \\\n  \
             --user-search-base '{people}' \\\n  \
             --user-filter '(&(objectClass=person)(|(uid=%[1]s)(mail=%[1]s)))' \\\n  \
             --admin-filter '(memberOf=cn=admins,{groups})' \\\n  \
             --username-attribute uid --firstname-attribute givenName \\\n  \
             --surname-attribute sn --email-attribute mail --avatar-attribute jpegPhoto \\\n  \
             --synchronize-users\n",
            host = c.host,
            port = c.port,
            dn = c.service("gitea"),
            people = c.people(),
            groups = c.groups(),
        ),
    }
}

fn grafana(c: &Connect) -> Recipe {
    Recipe {
        id: "grafana",
        title: "Grafana",
        place: "/etc/grafana/ldap.toml (and [auth.ldap] enabled = true in grafana.ini)",
        text: format!(
            "[[servers]]\nhost = \"{host}\"\nport = {port}\nuse_ssl = {ldaps}\n\
             start_tls = {starttls}\nssl_skip_verify = false\n\
             bind_dn = \"{dn}\"\nbind_password = \"PASSWORD\"\n\
             search_filter = \"(uid=%s)\"\nsearch_base_dns = [\"{people}\"]\n\n\
             [servers.attributes]\nusername = \"uid\"\nname = \"givenName\"\n\
             surname = \"sn\"\nemail = \"mail\"\nmember_of = \"memberOf\"\n\n\
             [[servers.group_mappings]]\ngroup_dn = \"cn=admins,{groups}\"\n\
             org_role = \"Admin\"\n\n[[servers.group_mappings]]\ngroup_dn = \"*\"\n\
             org_role = \"Viewer\"\n",
            host = c.host,
            port = c.port,
            ldaps = c.ldaps,
            starttls = !c.ldaps,
            dn = c.service("grafana"),
            people = c.people(),
            groups = c.groups(),
        ),
    }
}

fn yes(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let mut all = vec![("LATCHKEY_APP_URL", "https://sso.example.org")];
        all.extend_from_slice(pairs);
        Config::from_pairs(&all).unwrap()
    }

    #[test]
    fn no_listener_no_recipes() {
        assert_eq!(Connect::new(&config(&[]), (None, None)), None);
    }

    #[test]
    fn ldaps_is_preferred_and_every_recipe_names_this_server() {
        let tls = [
            ("LATCHKEY_LDAP_TLS_CERT_FILE", "/c.pem"),
            ("LATCHKEY_LDAP_TLS_KEY_FILE", "/k.pem"),
        ];
        let both = config(
            &[
                &tls[..],
                &[
                    ("LATCHKEY_LDAP_LISTEN", "0.0.0.0:3890"),
                    ("LATCHKEY_LDAPS_LISTEN", "0.0.0.0:6360"),
                ],
            ]
            .concat(),
        );
        let c = Connect::new(&both, (both.ldap_listen, both.ldaps_listen)).unwrap();
        assert_eq!(c.url(), "ldaps://sso.example.org:6360");
        assert_eq!(c.base, "dc=sso,dc=example,dc=org");
        let all = recipes(&c);
        let ids: Vec<_> = all.iter().map(|r| r.id).collect();
        assert_eq!(
            ids,
            [
                "ldapsearch",
                "sssd",
                "jellyfin",
                "nextcloud",
                "gitea",
                "grafana"
            ]
        );
        for r in &all {
            assert!(r.text.contains("ou=people,dc=sso,dc=example,dc=org") || r.id == "sssd");
            assert!(r.text.contains("sso.example.org"), "{}", r.id);
            assert!(r.text.contains("6360"), "{}", r.id);
            assert!(!r.text.contains("-ZZ") && !r.text.contains("start_tls = true"));
        }

        let plain = config(&[&tls[..], &[("LATCHKEY_LDAP_LISTEN", "0.0.0.0:3890")]].concat());
        let c = Connect::new(&plain, (plain.ldap_listen, plain.ldaps_listen)).unwrap();
        assert_eq!(c.url(), "ldap://sso.example.org:3890");
        let all = recipes(&c);
        assert!(all[0].text.contains(" -ZZ "), "StartTLS is demanded");
        assert!(all[1].text.contains("ldap_id_use_start_tls = true"));
        assert!(all[4].text.contains("--security-protocol starttls"));
        assert!(all[5].text.contains("start_tls = true"));
    }
}
