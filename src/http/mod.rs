//! HTTP plumbing shared by every page and endpoint: the accept loop (plain or TLS,
//! timeouts, connection caps, graceful shutdown), request ids, the request log,
//! security headers, and the client's real address behind trusted proxies.

pub mod client;
pub mod limits;
pub mod middleware;
pub mod server;

pub use client::ClientInfo;
