//! Who is on the other end: the client IP and scheme, believing `X-Forwarded-For` and
//! `X-Forwarded-Proto` only when the direct peer is a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::{TrustedProxies, canonical_ip};

/// The client as far as Latchkey can tell; put into every request by the middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// `https` when the connection (or a trusted proxy in front of it) used TLS.
    pub https: bool,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Work out the client from the TCP peer and the headers.
    pub fn resolve(
        peer: SocketAddr,
        tls: bool,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> ClientInfo {
        let peer_ip = canonical_ip(peer.ip());
        let user_agent = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        if !trusted.contains(peer_ip) {
            return ClientInfo {
                ip: peer_ip,
                https: tls,
                user_agent,
            };
        }
        // Walk X-Forwarded-For from the right: the first hop not ours is the client.
        let mut ip = peer_ip;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(hop_ip) => {
                    ip = canonical_ip(hop_ip);
                    if !trusted.contains(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let https = match headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            Some(proto) => proto
                .split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")),
            None => tls,
        };
        ClientInfo {
            ip,
            https,
            user_agent,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(info) = parts.extensions.get::<ClientInfo>() {
            return Ok(info.clone());
        }
        // Outside the middleware (e.g. a bare router in a test): the peer as is.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        Ok(ClientInfo::resolve(
            peer,
            false,
            &parts.headers,
            &TrustedProxies::default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SettingValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_are_ignored_from_untrusted_peers() {
        let trusted = TrustedProxies::default();
        let c = ClientInfo::resolve(
            "203.0.113.9:5000".parse().unwrap(),
            false,
            &headers(&[
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ]),
            &trusted,
        );
        assert_eq!(c.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(!c.https);
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let trusted = TrustedProxies::parse_setting("10.0.0.0/8, 127.0.0.1").unwrap();
        let c = ClientInfo::resolve(
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
            false,
            &headers(&[
                ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
                ("x-forwarded-for", "10.1.1.1"),
                ("x-forwarded-proto", "https"),
                ("user-agent", "Firefox"),
            ]),
            &trusted,
        );
        // 6.6.6.6 was written by the client itself and is not believed.
        assert_eq!(c.ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert!(c.https);
        assert_eq!(c.user_agent.as_deref(), Some("Firefox"));
    }

    #[test]
    fn garbage_forwarded_for_stops_the_walk() {
        let trusted = TrustedProxies::parse_setting("127.0.0.1").unwrap();
        let c = ClientInfo::resolve(
            "127.0.0.1:1".parse().unwrap(),
            true,
            &headers(&[("x-forwarded-for", "not-an-ip")]),
            &trusted,
        );
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(c.https);
    }
}
