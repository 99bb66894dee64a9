//! Latchkey as an LDAP server: services that speak only LDAP (Jellyfin, Nextcloud,
//! Gitea, SSSD …) sign in against the same users and groups as the OIDC apps.
//!
//! - `server`: the listeners (plain with StartTLS, LDAPS), connection limits, TLS.
//! - `session`: one connection's protocol: bind, search, compare, extended operations,
//!   controls and the paged-results cursor.
//! - `paging`: the paged-results cursor (RFC 2696).
//! - `search`: where a DN points in the tree and what a reader may see there.
//! - `entry`: how users, groups and the fixed entries look (lldap's layout).
//! - `filter`: filter evaluation and the index reads a filter allows.
//! - `dn`: distinguished names.
//! - `recipes`: how the common clients connect (shown on `/admin/ldap`).
//!
//! Who may bind, and with what, is decided in `auth::ldap`.

pub mod dn;
pub mod entry;
pub mod filter;
pub mod paging;
pub mod recipes;
pub mod search;
pub mod server;
pub mod session;

pub use server::{LdapListeners, Serving, start};
