//! Latchkey: a self-hosted OpenID Connect identity provider.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod ldap;
pub mod logging;
pub mod mail;
pub mod media;
pub mod oidc;
pub mod proxy;
pub mod settings;
pub mod setup;
pub mod store;
pub mod web;
