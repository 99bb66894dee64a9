//! Plain types and rules, no I/O: what a valid user, group or claim is.

pub mod access;
pub mod claims;
pub mod client;
pub mod group;
pub mod proxy_app;
pub mod scope;
pub mod session;
pub mod user;

/// A rule a value broke; `field` names the input so a form or the CLI can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            field,
            message: message.into(),
        }
    }
}
