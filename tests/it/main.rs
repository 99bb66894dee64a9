//! Integration tests, one binary: real servers in-process and the real `latchkey`
//! binary, on SQLite and on PostgreSQL.

mod support;

mod cli;
mod config_errors;
mod lifecycle;
mod server;
mod store;
