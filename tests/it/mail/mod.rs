//! Email: the outbox in the store (both backends), delivery over a real SMTP server
//! (aiosmtpd with STARTTLS required, or implicit TLS, and a throwaway CA), and every
//! message end to end.

mod delivery;
mod flows;
mod geoip;
mod lab;
mod outbox;
mod policy;
