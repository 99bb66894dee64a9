"""LDAP clients that imitate what real applications send, with Python's ldap3.

    python clients.py nextcloud|gitea|jellyfin URL CA BIND_DN PASSWORD BASE USERNAME [USER_PASSWORD]

Prints one JSON object with what the application would conclude.

- nextcloud: user_ldap's user listing (paged, with its attribute list), then a base
  read of each user's DN for entryUUID, as its mapping does.
- gitea: binds as the user, then a subtree search based at the user's own DN with a
  memberOf filter (its "admin filter" and "restricted filter").
- jellyfin: the LDAP plugin: bind as a service account, find the user by uid with a
  memberOf filter, then bind as that user.
"""

import json
import ssl
import sys

from ldap3 import BASE, SUBTREE, Connection, Server, Tls


def server(url, ca):
    tls = Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED)
    return Server(url, use_ssl=url.startswith("ldaps://"), tls=tls, get_info="NO_INFO")


def nextcloud(srv, bind_dn, password, base, username, _user_password):
    conn = Connection(srv, bind_dn, password, auto_bind=True, read_only=True)
    attrs = ["dn", "uid", "samaccountname", "memberof", "mail", "displayname", "jpegphoto",
             "thumbnailphoto", "entryuuid", "objectguid", "cn", "sn", "givenname"]
    found = conn.extend.standard.paged_search(
        f"ou=people,{base}", "(&(objectclass=inetOrgPerson))", SUBTREE, attributes=attrs,
        paged_size=1, generator=False)
    users = {}
    for entry in found:
        if entry.get("type") != "searchResEntry":
            continue
        dn = entry["dn"]
        conn.search(dn, "(objectclass=*)", BASE, attributes=["entryuuid"])
        uuid = conn.entries[0].entry_attributes_as_dict["entryUUID"][0]
        users[entry["attributes"]["uid"][0]] = {
            "dn": dn,
            "mail": entry["attributes"].get("mail"),
            "displayname": entry["attributes"].get("displayName"),
            "memberof": entry["attributes"].get("memberOf"),
            "entryuuid": uuid,
        }
    return {"users": users}


def gitea(srv, _bind_dn, _password, base, username, user_password):
    user_dn = f"uid={username},ou=people,{base}"
    conn = Connection(srv, user_dn, user_password, auto_bind=True, read_only=True)
    conn.search(user_dn, f"(&(objectClass=person)(uid={username}))", SUBTREE,
                attributes=["uid", "givenName", "sn", "mail"])
    found = [e.entry_dn for e in conn.entries]
    conn.search(user_dn, f"(memberOf=cn=admins,ou=groups,{base})", SUBTREE, attributes=["uid"])
    admin = len(conn.entries) == 1
    conn.search(user_dn, f"(memberOf=cn=devs,ou=groups,{base})", SUBTREE, attributes=["uid"])
    dev = len(conn.entries) == 1
    return {"found": found, "admin": admin, "dev": dev}


def jellyfin(srv, bind_dn, password, base, username, user_password):
    conn = Connection(srv, bind_dn, password, auto_bind=True, read_only=True)
    conn.search(base, f"(&(uid={username})(memberOf=cn=devs,ou=groups,{base}))", SUBTREE,
                attributes=["uid", "displayName", "mail"])
    if len(conn.entries) != 1:
        return {"allowed": False, "authenticated": False}
    user_dn = conn.entries[0].entry_dn
    user = Connection(srv, user_dn, user_password, read_only=True)
    return {"allowed": True, "authenticated": user.bind(), "dn": user_dn}


def main():
    kind, url, ca, bind_dn, password, base, username = sys.argv[1:8]
    user_password = sys.argv[8] if len(sys.argv) > 8 else ""
    run = {"nextcloud": nextcloud, "gitea": gitea, "jellyfin": jellyfin}[kind]
    print(json.dumps(run(server(url, ca), bind_dn, password, base, username, user_password)))


if __name__ == "__main__":
    main()
