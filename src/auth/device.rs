//! New-device detection: a sign-in from a browser (device cookie) or a network the user
//! has not signed in from before is marked, so that the user can be told.

use std::net::IpAddr;

use super::Client;
use crate::crypto::{hash_secret, random_token};
use crate::domain::user::User;
use crate::mail::{Mail, notices};
use crate::store::{Store, StoreError, now};

/// What a sign-in revealed about the device.
pub struct DeviceCheck {
    pub is_new: bool,
    /// The network the address belongs to (/24 for IPv4, /64 for IPv6).
    pub network: String,
    /// A device cookie to set when the browser had none.
    pub new_cookie: Option<String>,
}

/// Remember this device and network for the user; a first sign-in of an account is
/// not reported as "new" (every device is new then). When it is new, the notice to the
/// user is queued in the same transaction that remembers the device.
pub async fn observe(
    store: &Store,
    mail: Option<&Mail>,
    user: &User,
    client: &Client,
) -> Result<DeviceCheck, StoreError> {
    let (cookie, new_cookie) = match &client.device_cookie {
        Some(c) if c.len() >= 32 && c.len() <= 64 => (c.clone(), None),
        _ => {
            let fresh = random_token().expose().to_string();
            (fresh.clone(), Some(fresh))
        }
    };
    let network = network_of(client.ip);
    let first_ever = store.known_device_count(&user.id).await? == 0;
    // Composed before the transaction (it reads settings); queued only if new.
    let notice = match mail.filter(|_| !first_ever) {
        Some(m) => notices::new_device(m, user, client.ip, client.user_agent.as_deref())
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the new-device notice could not be composed");
                None
            }),
        None => None,
    };
    let t = now();
    let mut tx = store.begin().await?;
    let new_browser = Store::remember_device_in(
        &mut tx,
        &user.id,
        &format!("device:{}", hash_secret(&cookie)),
        t,
    )
    .await?;
    let new_network =
        Store::remember_device_in(&mut tx, &user.id, &format!("network:{network}"), t).await?;
    let is_new = !first_ever && (new_browser || new_network);
    let queued = match (&notice, is_new) {
        (Some(p), true) => {
            p.queue_in(&mut tx).await?;
            true
        }
        _ => false,
    };
    tx.commit().await?;
    if let (true, Some(m)) = (queued, mail) {
        m.wake();
    }
    Ok(DeviceCheck {
        is_new,
        network,
        new_cookie,
    })
}

/// The /24 (IPv4) or /64 (IPv6) an address belongs to.
pub fn network_of(ip: IpAddr) -> String {
    match crate::config::canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// "Firefox on Linux" from a user agent, for sessions lists and notices.
pub fn describe(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".into();
    };
    let parser = woothee::parser::Parser::new();
    match parser.parse(ua) {
        Some(r) if r.name != "UNKNOWN" => {
            if r.os != "UNKNOWN" {
                format!("{} on {}", r.name, r.os)
            } else {
                r.name.to_string()
            }
        }
        _ => "Unknown device".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_devices_read_well() {
        assert_eq!(network_of("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network_of("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.0/24"
        );
        assert_eq!(
            network_of("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe(Some(firefox)), "Firefox on Linux");
        assert_eq!(describe(None), "Unknown device");
    }
}
