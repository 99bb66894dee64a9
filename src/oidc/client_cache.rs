//! Clients are read on every token request; a short-lived in-memory copy saves two
//! queries each time. Changes made in this process take effect at once (`forget`);
//! changes made elsewhere (the CLI, another instance) within `TTL`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::client::Client;
use crate::store::{Store, StoreError};

const TTL: Duration = Duration::from_secs(10);
/// Unknown ids are never cached, so the map only holds real clients; this bounds it anyway.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ClientCache {
    entries: RwLock<HashMap<String, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    pub async fn get(&self, store: &Store, id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some((at, client)) = cached
            && at.elapsed() < TTL
        {
            return Ok(Some(client));
        }
        let Some(client) = store.client_by_id(id).await? else {
            self.forget(id);
            return Ok(None);
        };
        let client = Arc::new(client);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.to_string(), (Instant::now(), client.clone()));
        Ok(Some(client))
    }

    /// Drop a client after changing or deleting it.
    pub fn forget(&self, id: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}
