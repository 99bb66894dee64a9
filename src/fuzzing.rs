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
    ("ldap_message", ldap_message),
    ("ldap_text", ldap_text),
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

/// A person entry and a group entry to evaluate filters against.
fn ldap_entries() -> &'static (crate::ldap::entry::Entry, crate::ldap::entry::Entry) {
    use crate::ldap::dn::Dn;
    use crate::ldap::entry::{Entry, Tree};
    use crate::store::{DirGroup, DirUser};
    static ENTRIES: OnceLock<(Entry, Entry)> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let tree = Tree::new(
            Dn::parse("dc=example,dc=org").expect("a DN"),
            "/bin/bash".into(),
        );
        let user = crate::domain::user::User {
            id: "0190e4a6-0000-7000-8000-000000000001".into(),
            username: "alice".into(),
            email: Some("alice@example.org".into()),
            email_verified: true,
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            display_name: "Alice Liddell".into(),
            is_admin: false,
            disabled: false,
            locale: None,
            created_at: 1_700_000_000,
            updated_at: 1_796_312_587,
            source: crate::domain::user::Source::Local,
            external_id: None,
        };
        let person = tree.user(
            &DirUser {
                user,
                uid_number: 10000,
                groups: vec!["devs".into()],
            },
            |_| true,
        );
        let group = tree.group(
            &DirGroup {
                group: crate::domain::group::Group {
                    id: "0190e4a6-0000-7000-8000-000000000002".into(),
                    name: "devs".into(),
                    display_name: "Developers".into(),
                    created_at: 1_700_000_000,
                    updated_at: 1_700_000_000,
                    source: crate::domain::user::Source::Local,
                    external_id: None,
                },
                gid_number: 50000,
                members: vec!["alice".into()],
            },
            |_| true,
        );
        (person, group)
    })
}

/// A DN that parses prints as text that parses back to the same DN (when the
/// printed text, with its escapes, is itself within the length limit).
fn dn_round_trip(text: &str) {
    use crate::ldap::dn::{DN_MAX, Dn};
    if let Ok(dn) = Dn::parse(text) {
        let printed = dn.to_string();
        if printed.len() <= DN_MAX {
            assert_eq!(Dn::parse(&printed).as_ref(), Ok(&dn), "{printed}");
        }
    }
}

/// What the LDAP listener reads: BER messages, decoded with the server's limits, then
/// every DN parsed and every search filter checked, planned and evaluated.
pub fn ldap_message(data: &[u8]) {
    use ldap3_proto::proto::LdapOp;
    use tokio_util::codec::Decoder;
    let mut codec = ldap3_proto::LdapCodec::new(
        Some(crate::ldap::session::REQUEST_MAX),
        Some(crate::ldap::session::DEPTH_MAX),
    );
    let mut buf = bytes::BytesMut::from(data);
    let (person, group) = ldap_entries();
    // Several messages may follow each other; stop at the first error, as the server does.
    while let Ok(Some(msg)) = codec.decode(&mut buf) {
        match &msg.op {
            LdapOp::SearchRequest(req) => {
                dn_round_trip(&req.base);
                if crate::ldap::filter::check(&req.filter).is_ok() {
                    let _ = crate::ldap::filter::matches(&req.filter, person);
                    let _ = crate::ldap::filter::matches(&req.filter, group);
                }
                // An empty plan reads nothing (an empty `(|)` is false, RFC 4526): then
                // the filter must match nothing of that kind.
                for (kind, entry) in [
                    (crate::ldap::filter::EntryKind::Person, person),
                    (crate::ldap::filter::EntryKind::Group, group),
                ] {
                    if crate::ldap::filter::plan(&req.filter, kind).is_empty()
                        && crate::ldap::filter::check(&req.filter).is_ok()
                    {
                        assert!(!crate::ldap::filter::matches(&req.filter, entry));
                    }
                }
                let selection = crate::ldap::entry::Selection::new(&req.attrs);
                let _ = person.clone().into_result(&selection, req.typesonly);
            }
            LdapOp::BindRequest(req) => dn_round_trip(&req.dn),
            LdapOp::CompareRequest(req) => dn_round_trip(&req.dn),
            _ => {}
        }
    }
}

/// Text that clients send as DNs, and filters in their string form (RFC 4515).
pub fn ldap_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    dn_round_trip(&text);
    if text.len() <= 4096
        && let Ok(filter) = ldap3_proto::parse_ldap_filter_str(&text)
    {
        let (person, group) = ldap_entries();
        if crate::ldap::filter::check(&filter).is_ok() {
            let _ = crate::ldap::filter::matches(&filter, person);
            let _ = crate::ldap::filter::matches(&filter, group);
        }
    }
}
