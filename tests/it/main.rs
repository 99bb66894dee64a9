//! Integration tests, one binary: real servers in-process and the real `latchkey`
//! binary, on SQLite and on PostgreSQL.

mod browser;
mod people;
mod support;

mod admin;
mod api;
mod attacks;
mod auth;
mod cli;
mod config_errors;
mod crash;
mod directory;
mod file_modes;
mod floods;
mod fuzz_corpus;
mod ldap;
mod lifecycle;
mod mail;
mod oidc;
mod proxy;
mod server;
mod store;
