//! Time-based one-time passwords (RFC 6238) and recovery codes.

use base64::Engine;
use totp_rs::{Algorithm, TOTP};

use crate::crypto::secrets::{hash_secret, random_bytes};

const DIGITS: usize = 6;
const STEP: u64 = 30;

/// The TOTP generator for a secret; `account` and `issuer` label it in authenticator apps.
fn totp(secret: &[u8], issuer: &str, account: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP,
        secret.to_vec(),
        Some(issuer.to_string()),
        account.to_string(),
    )
}

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Vec<u8> {
    random_bytes::<20>().to_vec()
}

/// The `otpauth://` URL, the secret in base32, and a QR code of the URL as an SVG data URI.
pub fn enrolment(secret: &[u8], issuer: &str, account: &str) -> (String, String, String) {
    let t = totp(secret, issuer, account);
    let url = t.get_url();
    let svg = qr_svg(&url);
    let data_uri = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    (url, t.get_secret_base32(), data_uri)
}

/// Which time step `code` is valid for at `unix_time` (one step of clock skew either
/// way), if any. The caller records the step so that it cannot be used again.
pub fn matching_step(secret: &[u8], code: &str, unix_time: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "", "");
    let now_step = unix_time / STEP;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|step| {
            crate::crypto::secrets::constant_time_eq(
                t.generate(step * STEP).as_bytes(),
                code.as_bytes(),
            )
        })
        .map(|step| step as i64)
}

/// The code for a time (tests and the enrolment page's own check use it).
pub fn code_at(secret: &[u8], unix_time: u64) -> String {
    totp(secret, "", "").generate(unix_time)
}

pub const RECOVERY_CODES: usize = 10;

/// Ten fresh recovery codes like `K3FQ-9XMT-2WBR-H7PD` (80 bits each) and their hashes.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ"; // no 0/O, 1/I
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random_bytes::<16>();
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[(*b & 31) as usize] as char)
                .collect();
            format!(
                "{}-{}-{}-{}",
                &chars[0..4],
                &chars[4..8],
                &chars[8..12],
                &chars[12..16]
            )
        })
        .collect();
    let hashes = codes.iter().map(|c| hash_recovery_code(c)).collect();
    (codes, hashes)
}

/// Codes are compared without dashes, spaces or case.
pub fn hash_recovery_code(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hash_secret(&normal)
}

/// Looks like a recovery code rather than a six-digit TOTP code.
pub fn is_recovery_code(input: &str) -> bool {
    input.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 16
}

fn qr_svg(text: &str) -> String {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium)
        .expect("an otpauth URL fits a QR code");
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_with_one_step_of_skew() {
        let secret = new_secret();
        let now = 1_800_000_000u64;
        let code = code_at(&secret, now);
        assert_eq!(matching_step(&secret, &code, now), Some((now / 30) as i64));
        assert_eq!(
            matching_step(&secret, &code, now + 30),
            Some((now / 30) as i64)
        );
        assert_eq!(matching_step(&secret, &code, now + 90), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn enrolment_gives_url_secret_and_qr() {
        let (url, b32, qr) = enrolment(&new_secret(), "Latchkey", "alice");
        assert!(url.starts_with("otpauth://totp/Latchkey:alice?secret="));
        assert_eq!(b32.len(), 32);
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(
            hashes
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            10
        );
        let lower = codes[0].to_lowercase().replace('-', " ");
        assert_eq!(hash_recovery_code(&lower), hashes[0]);
        assert!(is_recovery_code(&codes[0]) && !is_recovery_code("123456"));
    }
}
