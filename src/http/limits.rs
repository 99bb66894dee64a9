//! How many connections the server keeps open: in total, and per client address, so
//! that one client holding many half-sent requests (slowloris) cannot take every file
//! descriptor and keep everyone else out. Plain rules, no I/O: the accept loop asks
//! `admit` for each new connection and closes it at once when refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::config::{TrustedProxies, canonical_ip};

/// The connection caps of one server.
#[derive(Debug)]
pub struct ConnectionLimits {
    total: usize,
    per_address: usize,
    /// Reverse proxies carry many people's connections: they count only in the total.
    exempt: TrustedProxies,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server has `total` connections open.
    Full,
    /// This address (or IPv6 /64) has `per_address` open.
    AddressFull,
}

/// A place among the open connections, given back when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    address: Option<IpAddr>,
}

impl ConnectionLimits {
    pub fn new(total: usize, per_address: usize, exempt: TrustedProxies) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            total,
            per_address,
            exempt,
            open: Mutex::default(),
        })
    }

    /// Take a place for a connection from `peer`, or say why there is none.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionSlot, Refused> {
        let address = (!self.exempt.contains(peer)).then(|| address_key(peer));
        let mut open = self.lock();
        if open.total >= self.total {
            return Err(Refused::Full);
        }
        if let Some(address) = address {
            let count = open.by_address.entry(address).or_insert(0);
            if *count >= self.per_address {
                return Err(Refused::AddressFull);
            }
            *count += 1;
        }
        open.total += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total -= 1;
        if let Some(address) = self.address
            && let Some(count) = open.by_address.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&address);
            }
        }
    }
}

/// What counts as one client: an IPv4 address, or an IPv6 /64 (one host or home
/// network usually has a whole /64 to pick addresses from).
fn address_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// File descriptors kept for the database, the log and certificates besides the
/// connections (SQLite alone holds up to 13 with its readers, writer and WAL files).
const RESERVED_FDS: u64 = 64;

/// Raise the soft limit on open files towards the hard limit (as Go and nginx do) so
/// that `connections` can be open at once, and say so when even the hard limit is too
/// low: then accepts fail with EMFILE before the connection cap refuses anything.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every Unix
pub fn ensure_open_file_limit(connections: usize) {
    #[cfg(unix)]
    {
        let wanted = connections as u64 + RESERVED_FDS;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        let soft = limit.rlim_cur as u64;
        if soft >= wanted {
            return;
        }
        let raised = wanted.min(limit.rlim_max as u64);
        if raised > soft {
            limit.rlim_cur = raised as libc::rlim_t;
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
                tracing::info!(from = soft, to = raised, "raised the open-file limit");
            }
        }
        if raised < wanted {
            tracing::warn!(
                event = "server.open_file_limit_low",
                open_file_limit = raised,
                max_connections = connections,
                "the open-file limit ({raised}) is below LATCHKEY_MAX_CONNECTIONS + {RESERVED_FDS}: \
                 raise it (systemd: LimitNOFILE=) or lower LATCHKEY_MAX_CONNECTIONS"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = connections;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let limits = ConnectionLimits::new(4, 2, TrustedProxies(vec![]));
        let a1 = limits.admit(ip("192.0.2.1")).unwrap();
        let _a2 = limits.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            limits.admit(ip("192.0.2.1")).unwrap_err(),
            Refused::AddressFull
        );
        let _b1 = limits.admit(ip("192.0.2.2")).unwrap();
        let _b2 = limits.admit(ip("::ffff:192.0.2.2")).unwrap();
        assert_eq!(limits.admit(ip("192.0.2.3")).unwrap_err(), Refused::Full);
        assert_eq!(limits.open(), 4);
        drop(a1);
        assert_eq!(limits.open(), 3);
        limits.admit(ip("192.0.2.1")).unwrap();
    }

    #[test]
    fn ipv6_counts_per_64_and_trusted_proxies_only_in_the_total() {
        let proxy = TrustedProxies(vec!["10.0.0.1/32".parse().unwrap()]);
        let limits = ConnectionLimits::new(10, 1, proxy);
        let _a = limits.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            limits.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Refused::AddressFull
        );
        let _b = limits.admit(ip("2001:db8:1:3::1")).unwrap();
        let proxied: Vec<_> = (0..8)
            .map(|_| limits.admit(ip("10.0.0.1")).unwrap())
            .collect();
        assert_eq!(limits.admit(ip("10.0.0.1")).unwrap_err(), Refused::Full);
        drop(proxied);
        assert_eq!(limits.open(), 2);
    }
}
