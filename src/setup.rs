//! First start: while no administrator exists, a one-time setup link lets the owner
//! create the first admin. The token lives only in this process's memory, so it dies
//! with a restart, and only its hash is kept; nobody on the network can race the
//! owner for the admin account the way they could with an open `/setup` page.

use std::sync::Mutex;

use crate::crypto::secrets::{constant_time_eq, hash_secret};
use crate::crypto::{SecretToken, random_token};

/// The one-time setup token of this process, if setup is still open.
#[derive(Debug, Default)]
pub struct SetupGate {
    token_hash: Mutex<Option<String>>,
}

impl SetupGate {
    /// A gate that is closed: an admin exists.
    pub fn closed() -> SetupGate {
        SetupGate::default()
    }

    /// Open the gate with a fresh token; the clear token goes into the setup link.
    pub fn open() -> (SetupGate, SecretToken) {
        let token = random_token();
        let gate = SetupGate {
            token_hash: Mutex::new(Some(token.hash())),
        };
        (gate, token)
    }

    /// Is `presented` this process's setup token (and still unused)?
    pub fn accepts(&self, presented: &str) -> bool {
        let guard = self.token_hash.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_deref().is_some_and(|expected| {
            constant_time_eq(expected.as_bytes(), hash_secret(presented).as_bytes())
        })
    }

    /// Close the gate for good: the first admin exists.
    pub fn close(&self) {
        *self.token_hash.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn is_open(&self) -> bool {
        self.token_hash
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// The block printed to the log on a start without an administrator.
pub fn announcement(app_url: &str, setup_url: &str) -> String {
    let rule = "─".repeat(72);
    format!(
        "\n{rule}\n  Latchkey is running at {app_url}\n\n  No administrator exists yet. Open this one-time link to create one:\n\n    {setup_url}\n\n  The link works once, and only until this process restarts.\n{rule}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_accepts_only_its_token_until_closed() {
        let (gate, token) = SetupGate::open();
        assert!(gate.accepts(token.expose()));
        assert!(!gate.accepts("guess"));
        gate.close();
        assert!(!gate.accepts(token.expose()));
        assert!(!SetupGate::closed().accepts(token.expose()));
    }
}
