//! Store tests: every test runs once on SQLite and once on PostgreSQL.

mod api_keys;
mod audit;
mod auth_state;
mod claims;
mod directory;
mod groups;
mod housekeeping;
mod invites;
mod ldap;
mod meta;
mod oidc_state;
mod settings;
mod signing_keys;
mod transactions;
mod users;
