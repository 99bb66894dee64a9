//! The front doors that hostile bytes reach first, each as a plain function of those
//! bytes. The cargo-fuzz targets in `fuzz/` call these, and so does the corpus replay
//! test (`tests/it/fuzz_corpus.rs`), which runs every committed corpus file and crash
//! on stable in `scripts/test`.
//!
//! A panic here is a bug: either the code under test panicked, or one of the
//! properties checked below (what must hold for every input) did not hold.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use crate::crypto::jws::{sign_jwt, verify_jwt};
use crate::crypto::keys::{Algorithm, SigningKey, VerifyingKey};
use crate::domain::scope;
use crate::oidc::params::Params;
use crate::oidc::request::{self, Pkce};

/// A fuzz target: any bytes in, a panic when something is wrong.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name: `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("authorize", authorize),
    ("token", token),
    ("jwt", jwt),
    ("webauthn", webauthn),
    ("image", image),
];

/// `/authorize`: a query string, parsed and checked with every PKCE rule a client has.
pub fn authorize(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let params = Params::parse(&query);
    // Encoding again gives back the same parameters (the sign-in continuation).
    let again = Params::parse(&params.to_query(&[]));
    for (k, v) in params.iter() {
        assert_eq!(again.get(k), Some(v).filter(|v| !v.is_empty()), "{k}");
    }
    for (required, allow_plain) in [(true, false), (false, true), (false, false)] {
        let pkce = Pkce {
            required,
            allow_plain,
        };
        match request::check(&params, pkce) {
            Ok(asked) => {
                assert!(params.problem().is_none());
                assert_eq!(params.get("response_type"), Some("code"));
                assert!(!asked.scope.is_empty());
                assert!(
                    asked
                        .scope
                        .split(' ')
                        .all(|s| scope::SUPPORTED.contains(&s))
                );
                assert!(asked.max_age.is_none_or(|m| m >= 0));
                if required {
                    assert!(params.get("code_challenge").is_some());
                }
            }
            Err(refused) => assert!(!refused.description.is_empty()),
        }
    }
}

/// `/token`: the first line is the `Authorization` header, the rest the form body.
pub fn token(data: &[u8]) {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(line) {
        headers.insert(header::AUTHORIZATION, value);
    }
    if let Ok(Some((id, secret))) = crate::oidc::client_auth::basic_credentials(&headers) {
        // Whatever came out fits in the header it came from.
        assert!(id.len() + secret.len() <= line.len());
    }
    let params = Params::parse(&String::from_utf8_lossy(body));
    let _ = params.problem();
    let verifier = params.get("code_verifier");
    for method in [None, Some("plain"), Some("S256")] {
        let challenge = params.get("code_challenge");
        if crate::oidc::token::pkce_ok(challenge, method, verifier).is_ok() {
            // A match needs both sides, and a well-formed verifier.
            assert_eq!(challenge.is_some(), verifier.is_some());
            assert!(verifier.is_none_or(request::is_pkce_string));
        }
    }
}

fn keys() -> &'static (SigningKey, VerifyingKey) {
    static KEYS: OnceLock<(SigningKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing = SigningKey::generate(Algorithm::ES256);
        let verifying = signing.verifying_key();
        (signing, verifying)
    })
}

/// The JWS parser behind `id_token_hint` (and any later client assertion): arbitrary
/// text must fail cleanly, and any JSON object signed here must verify as itself.
pub fn jwt(data: &[u8]) {
    let (signing, verifying) = keys();
    let find = |kid: &str| (kid == verifying.kid()).then_some(verifying);
    let text = String::from_utf8_lossy(data);
    if let Ok(verified) = verify_jwt(&text, find) {
        // Nobody but this process holds the key: only a token it signed verifies.
        assert_eq!(verified.kid, verifying.kid());
    }
    if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) {
        let token = sign_jwt(signing, "JWT", &Value::Object(claims.clone()));
        if token.len() <= crate::crypto::jws::MAX_TOKEN_LEN {
            let verified = verify_jwt(&token, find).expect("a token signed here verifies");
            assert_eq!(verified.claims, claims);
            assert_eq!(verified.typ.as_deref(), Some("JWT"));
        }
    }
}

/// The browser's WebAuthn answers (sign-in and registration JSON) and the CBOR
/// attestation object read for the authenticator's AAGUID.
pub fn webauthn(data: &[u8]) {
    use webauthn_rs_core::proto::{PublicKeyCredential, RegisterPublicKeyCredential};
    let _ = serde_json::from_slice::<PublicKeyCredential>(data);
    if let Ok(registration) = serde_json::from_slice::<RegisterPublicKeyCredential>(data) {
        let _ = crate::auth::passkey::aaguid_of(registration.response.attestation_object.as_ref());
    }
    let _ = crate::auth::passkey::aaguid_of(data);
}

/// An uploaded picture, as a profile picture and as a logo: refused with a reason,
/// or re-encoded within the sizes promised.
pub fn image(data: &[u8]) {
    use crate::media::{AVATAR_SIZE, LOGO_SIZE};
    let side = |png: &crate::media::Png| {
        let img = image::load_from_memory(&png.0).expect("the PNG made here decodes");
        (img.width(), img.height())
    };
    if let Ok(png) = crate::media::profile_picture(data) {
        assert_eq!(side(&png), (AVATAR_SIZE, AVATAR_SIZE));
    }
    if let Ok(png) = crate::media::logo(data) {
        let (w, h) = side(&png);
        assert!(w <= LOGO_SIZE && h <= LOGO_SIZE && w > 0 && h > 0);
    }
}
