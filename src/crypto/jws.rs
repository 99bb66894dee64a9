//! JWS compact serialization (RFC 7515) of JWTs: ID tokens, RFC 9068 access tokens,
//! and the OIDC `at_hash` / `c_hash` claims that bind them to their siblings.
//!
//! Verification is deliberately narrow. The algorithm is never taken on the token's
//! word: the key, found by `kid` alone, has exactly one algorithm and the header must
//! name it. `none`, HMAC and every other algorithm fail, as do keys the token carries
//! itself (`jwk`, `jku`, `x5u`, `x5c` are ignored, never fetched or trusted).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::keys::{Algorithm, SigningKey, VerifyingKey};

/// The longest token `verify_jwt` reads; real ID and access tokens are a few KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused. Messages never repeat token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the token is longer than 16 KiB")]
    TooLong,
    #[error("the token is not three dot-separated parts")]
    NotThreeParts,
    #[error("the token {0} is not unpadded base64url")]
    Base64(&'static str),
    #[error("the token {0} is not a JSON object")]
    NotJsonObject(&'static str),
    #[error("the header member \"{0}\" is not a string")]
    HeaderMemberType(&'static str),
    #[error("the header alg is missing, \"none\", HMAC or otherwise not accepted")]
    UnsupportedAlgorithm,
    #[error("the header has \"crit\"; no JWS extension is understood here")]
    CriticalHeader,
    #[error("the header has no kid")]
    MissingKid,
    #[error("no known key has the token's kid")]
    UnknownKey,
    #[error("the header alg is not the algorithm of the key its kid names")]
    AlgorithmMismatch,
    #[error("the signature does not verify")]
    BadSignature,
}

/// A token whose signature checked out: its header fields and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The signing algorithm (always the key's own).
    pub alg: Algorithm,
    /// The id of the key that verified the signature.
    pub kid: String,
    /// The media type the signer declared (`JWT`, `at+jwt`, …), for callers to check;
    /// RFC 7515 §4.1.9 says compare it ignoring case.
    pub typ: Option<String>,
    /// The claims, not yet checked for `exp`, `iss`, `aud` or anything else.
    pub claims: Map<String, Value>,
}

/// Sign `claims` (a JSON object) as a compact JWS with header `{alg, kid, typ}`.
///
/// `typ` is `JWT` for ID tokens and `at+jwt` for RFC 9068 access tokens, so one kind
/// of token cannot be passed off as the other.
pub fn sign_jwt(key: &SigningKey, typ: &str, claims: &Value) -> String {
    debug_assert!(claims.is_object(), "JWT claims are a JSON object");
    let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": typ});
    // Serializing a `Value` cannot fail: every map key is a string.
    let header = serde_json::to_vec(&header).expect("a JSON value serializes");
    let claims = serde_json::to_vec(claims).expect("a JSON value serializes");
    let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(&header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    token
}

/// Check a compact JWS against the key `find_key` returns for its `kid`.
///
/// This checks the signature and the header only. It does NOT check `exp`, `nbf`,
/// `iat`, `iss`, `aud`, `typ` or any other claim: that is the caller's job, and a
/// token that passes here is merely authentic, not necessarily acceptable.
pub fn verify_jwt<'a>(
    token: &str,
    find_key: impl Fn(&str) -> Option<&'a VerifyingKey>,
) -> Result<Verified, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::NotThreeParts);
    };

    // serde_json keeps the last of duplicate members, which RFC 7515 §5.2 allows.
    let header = decode_object(header_b64, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::parse(name).ok_or(JwsError::UnsupportedAlgorithm)?
        }
        Some(_) => return Err(JwsError::HeaderMemberType("alg")),
        None => return Err(JwsError::UnsupportedAlgorithm),
    };
    // RFC 7515 §4.1.11: extensions listed in crit must be understood; none are.
    if header.contains_key("crit") {
        return Err(JwsError::CriticalHeader);
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) => kid,
        Some(_) => return Err(JwsError::HeaderMemberType("kid")),
        None => return Err(JwsError::MissingKid),
    };
    let typ = match header.get("typ") {
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(JwsError::HeaderMemberType("typ")),
        None => None,
    };
    let key = find_key(kid).ok_or(JwsError::UnknownKey)?;
    if key.alg() != alg {
        return Err(JwsError::AlgorithmMismatch);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwsError::Base64("signature"))?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(JwsError::BadSignature);
    }
    // Claims are only parsed once we know who wrote them.
    let claims = decode_object(claims_b64, "claims")?;
    Ok(Verified {
        alg,
        kid: kid.clone(),
        typ,
        claims,
    })
}

/// Decode one part as base64url without padding (the engine refuses `=`, `+`, `/` and
/// non-canonical trailing bits) holding a JSON object.
fn decode_object(part: &str, name: &'static str) -> Result<Map<String, Value>, JwsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwsError::Base64(name))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(members)) => Ok(members),
        _ => Err(JwsError::NotJsonObject(name)),
    }
}

/// The OIDC `at_hash` / `c_hash` of `value` for an ID token signed with `alg`: base64url
/// of the left half of the hash the algorithm uses.
///
/// RS256 and ES256 use SHA-256 (16 bytes kept). EdDSA names no hash of its own; with
/// Ed25519 it is SHA-512 (32 bytes kept), the hash inside Ed25519 (RFC 8032), as the
/// OIDC Core errata and the libraries settled. Checked against authlib: its
/// `create_half_hash` derived the hash from `alg[2:]`, so for "EdDSA" it looked up
/// `hashlib.shaDSA`, found nothing and returned None (authlib issue #799; its
/// `_verify_hash` then treated None as a match until 1.6.9 made it fail closed). PR #800
/// (Aug 2025) added the EdDSA case using `hashlib.sha512` and the left half, which is
/// what this computes; jose (panva) and openidconnect-rs agree.
pub fn half_hash(value: &str, alg: Algorithm) -> String {
    let hash = match alg {
        Algorithm::RS256 | Algorithm::ES256 => &digest::SHA256,
        Algorithm::EdDSA => &digest::SHA512,
    };
    let digest = digest::digest(hash, value.as_bytes());
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

    fn claims() -> Value {
        json!({"iss": "https://id.example.com", "sub": "alice", "aud": "app", "exp": 2_000_000_000u64})
    }

    /// A token with any header, claims text and signature, for hostile cases.
    fn craft(header: &Value, claims: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn parts(token: &str) -> Vec<Vec<u8>> {
        token
            .split('.')
            .map(|part| URL_SAFE_NO_PAD.decode(part).unwrap())
            .collect()
    }

    fn join(parts: &[Vec<u8>]) -> String {
        parts
            .iter()
            .map(|part| URL_SAFE_NO_PAD.encode(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    struct Keys {
        signing: Vec<SigningKey>,
        verifying: Vec<VerifyingKey>,
    }

    impl Keys {
        fn new() -> Keys {
            let signing: Vec<SigningKey> = ALL.into_iter().map(SigningKey::generate).collect();
            let verifying = signing
                .iter()
                .map(|key| VerifyingKey::from_jwk(&key.public_jwk()).unwrap())
                .collect();
            Keys { signing, verifying }
        }
        fn get(&self, alg: Algorithm) -> &SigningKey {
            self.signing.iter().find(|key| key.alg() == alg).unwrap()
        }
        fn verify(&self, token: &str) -> Result<Verified, JwsError> {
            verify_jwt(token, |kid| {
                self.verifying.iter().find(|key| key.kid() == kid)
            })
        }
    }

    #[test]
    fn signed_tokens_verify_for_every_algorithm() {
        let keys = Keys::new();
        for key in &keys.signing {
            for typ in ["JWT", "at+jwt"] {
                let token = sign_jwt(key, typ, &claims());
                let verified = keys.verify(&token).unwrap();
                assert_eq!(verified.alg, key.alg());
                assert_eq!(verified.kid, key.kid());
                assert_eq!(verified.typ.as_deref(), Some(typ));
                assert_eq!(Value::Object(verified.claims), claims());
                let header: Value = serde_json::from_slice(&parts(&token)[0]).unwrap();
                assert_eq!(
                    header,
                    json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": typ})
                );
            }
            // A key reloaded from its stored form signs tokens the published JWK accepts.
            let reloaded = SigningKey::from_pkcs8(key.alg(), &key.to_pkcs8()).unwrap();
            assert!(keys.verify(&sign_jwt(&reloaded, "JWT", &claims())).is_ok());
            // Its own verifying key works as well as the JWK-built one.
            let own = key.verifying_key();
            let token = sign_jwt(key, "JWT", &claims());
            assert!(verify_jwt(&token, |_| Some(&own)).is_ok());
        }
    }

    #[test]
    fn any_flipped_bit_fails() {
        let keys = Keys::new();
        for key in &keys.signing {
            let token = sign_jwt(key, "JWT", &claims());
            let original = parts(&token);
            // header: "JWT" -> "JWU"; claims: "alice" -> "alicd"; signature: two spots.
            let header_at = find(&original[0], b"JWT") + 2;
            let claims_at = find(&original[1], b"alice") + 4;
            let signature_len = original[2].len();
            for (part, at) in [
                (0, header_at),
                (1, claims_at),
                (2, 0),
                (2, signature_len - 1),
            ] {
                let mut tampered = original.clone();
                tampered[part][at] ^= 0x01;
                assert_eq!(
                    keys.verify(&join(&tampered)),
                    Err(JwsError::BadSignature),
                    "{} part {part} byte {at}",
                    key.alg()
                );
            }
            // Every single bit of the signature, for the short ones.
            if key.alg() != Algorithm::RS256 {
                for bit in 0..signature_len * 8 {
                    let mut tampered = original.clone();
                    tampered[2][bit / 8] ^= 1 << (bit % 8);
                    assert!(keys.verify(&join(&tampered)).is_err(), "bit {bit}");
                }
            }
            assert!(keys.verify(&join(&original)).is_ok());
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
            .unwrap()
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_rejected() {
        let keys = Keys::new();
        let rsa = keys.get(Algorithm::RS256);
        let claims = serde_json::to_vec(&claims()).unwrap();
        for none in ["none", "None", "NONE", "nOnE"] {
            let header = json!({"alg": none, "kid": rsa.kid(), "typ": "JWT"});
            let token = craft(&header, &claims, |_| Vec::new());
            assert!(token.ends_with('.'), "empty signature");
            assert_eq!(keys.verify(&token), Err(JwsError::UnsupportedAlgorithm));
            // Even with the RSA signature of the same input attached.
            let token = craft(&header, &claims, |input| rsa.sign(input));
            assert_eq!(keys.verify(&token), Err(JwsError::UnsupportedAlgorithm));
        }
        // The classic confusion: HMAC keyed with the public key's text, which anyone has.
        let public_text = serde_json::to_string(&rsa.public_jwk()).unwrap();
        for (alg, hmac_alg) in [
            ("HS256", hmac::HMAC_SHA256),
            ("HS384", hmac::HMAC_SHA384),
            ("HS512", hmac::HMAC_SHA512),
        ] {
            let hmac_key = hmac::Key::new(hmac_alg, public_text.as_bytes());
            let header = json!({"alg": alg, "kid": rsa.kid(), "typ": "JWT"});
            let token = craft(&header, &claims, |input| {
                hmac::sign(&hmac_key, input).as_ref().to_vec()
            });
            assert_eq!(
                keys.verify(&token),
                Err(JwsError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        for alg in [
            json!("PS256"),
            json!("ES384"),
            json!("RS512"),
            json!("Ed25519"),
            json!(""),
        ] {
            let header = json!({"alg": alg, "kid": rsa.kid()});
            let token = craft(&header, &claims, |input| rsa.sign(input));
            assert_eq!(
                keys.verify(&token),
                Err(JwsError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
        let header = json!({"kid": rsa.kid()});
        let token = craft(&header, &claims, |input| rsa.sign(input));
        assert_eq!(
            keys.verify(&token),
            Err(JwsError::UnsupportedAlgorithm),
            "no alg"
        );
        let header = json!({"alg": ["RS256"], "kid": rsa.kid()});
        let token = craft(&header, &claims, |input| rsa.sign(input));
        assert_eq!(keys.verify(&token), Err(JwsError::HeaderMemberType("alg")));
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        let keys = Keys::new();
        let rsa = keys.get(Algorithm::RS256);
        let ec = keys.get(Algorithm::ES256);
        let ed = keys.get(Algorithm::EdDSA);
        let claims = serde_json::to_vec(&claims()).unwrap();
        // An ES256 header naming the RSA key, signed by the EC key.
        let header = json!({"alg": "ES256", "kid": rsa.kid(), "typ": "JWT"});
        let token = craft(&header, &claims, |input| ec.sign(input));
        assert_eq!(keys.verify(&token), Err(JwsError::AlgorithmMismatch));
        // And every other pairing of header alg and key.
        for key in [rsa, ec, ed] {
            for alg in ALL.into_iter().filter(|alg| *alg != key.alg()) {
                let header = json!({"alg": alg.as_str(), "kid": key.kid()});
                let token = craft(&header, &claims, |input| keys.get(alg).sign(input));
                assert_eq!(keys.verify(&token), Err(JwsError::AlgorithmMismatch));
            }
        }
        // A right-algorithm signature by a different key under this kid.
        let impostor = SigningKey::generate(Algorithm::ES256);
        let header = json!({"alg": "ES256", "kid": ec.kid()});
        let token = craft(&header, &claims, |input| impostor.sign(input));
        assert_eq!(keys.verify(&token), Err(JwsError::BadSignature));
    }

    #[test]
    fn kid_and_crit_are_enforced() {
        let keys = Keys::new();
        let ec = keys.get(Algorithm::ES256);
        let claims = serde_json::to_vec(&claims()).unwrap();
        let sign = |header: Value| craft(&header, &claims, |input| ec.sign(input));

        assert_eq!(
            keys.verify(&sign(json!({"alg": "ES256", "typ": "JWT"}))),
            Err(JwsError::MissingKid)
        );
        assert_eq!(
            keys.verify(&sign(json!({"alg": "ES256", "kid": "someone-else"}))),
            Err(JwsError::UnknownKey)
        );
        assert_eq!(
            keys.verify(&sign(json!({"alg": "ES256", "kid": 7}))),
            Err(JwsError::HeaderMemberType("kid"))
        );
        // A key the token brings along is no reason to trust it.
        let stranger = SigningKey::generate(Algorithm::ES256);
        let header = json!({"alg": "ES256", "kid": stranger.kid(), "jwk": stranger.public_jwk()});
        let token = craft(&header, &claims, |input| stranger.sign(input));
        assert_eq!(keys.verify(&token), Err(JwsError::UnknownKey));
        assert_eq!(
            keys.verify(&sign(
                json!({"alg": "ES256", "kid": ec.kid(), "crit": ["exp"], "exp": 1})
            )),
            Err(JwsError::CriticalHeader)
        );
        assert_eq!(
            keys.verify(&sign(
                json!({"alg": "ES256", "kid": ec.kid(), "b64": false, "crit": ["b64"]})
            )),
            Err(JwsError::CriticalHeader)
        );
        assert_eq!(
            keys.verify(&sign(json!({"alg": "ES256", "kid": ec.kid(), "typ": 1}))),
            Err(JwsError::HeaderMemberType("typ"))
        );
        // No typ is allowed; the caller decides whether it needs one.
        let verified = keys
            .verify(&sign(json!({"alg": "ES256", "kid": ec.kid()})))
            .unwrap();
        assert_eq!(verified.typ, None);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let keys = Keys::new();
        let ec = keys.get(Algorithm::ES256);
        let token = sign_jwt(ec, "JWT", &claims());
        let [header, payload, signature] = token.split('.').collect::<Vec<_>>()[..] else {
            panic!("three parts")
        };

        for (bad, why) in [
            (format!("{token}.{signature}"), "four parts"),
            (format!("{token}."), "trailing dot"),
            (format!("{header}.{payload}"), "two parts"),
            (header.to_owned(), "one part"),
            (String::new(), "empty"),
            ("..".to_owned(), "empty parts"),
        ] {
            assert!(keys.verify(&bad).is_err(), "accepted: {why}");
        }
        assert_eq!(
            keys.verify(&format!("{token}.{signature}")),
            Err(JwsError::NotThreeParts)
        );
        assert_eq!(
            keys.verify(&format!("{header}.{payload}")),
            Err(JwsError::NotThreeParts)
        );

        // Oversized, even though correctly signed.
        let big = json!({"sub": "alice", "pad": "x".repeat(MAX_TOKEN_LEN)});
        let token_big = sign_jwt(ec, "JWT", &big);
        assert_eq!(keys.verify(&token_big), Err(JwsError::TooLong));
        assert_eq!(
            keys.verify(&"a".repeat(MAX_TOKEN_LEN + 1)),
            Err(JwsError::TooLong)
        );

        // A 64-byte signature encodes to 86 characters; padded it would be 88.
        assert_eq!(
            keys.verify(&format!("{header}.{payload}.{signature}==")),
            Err(JwsError::Base64("signature"))
        );
        let standard = base64::engine::general_purpose::STANDARD;
        let raw_signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let std_signature = standard
            .encode(&raw_signature)
            .trim_end_matches('=')
            .to_owned();
        if std_signature != signature {
            assert_eq!(
                keys.verify(&format!("{header}.{payload}.{std_signature}")),
                Err(JwsError::Base64("signature"))
            );
        }

        // Validly signed text that is not proper base64url: padded header, and claims in
        // the standard alphabet ('+' and '/'), each signed as-is.
        let sign_text = |header: &str, claims: &str| {
            let input = format!("{header}.{claims}");
            format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(ec.sign(input.as_bytes()))
            )
        };
        let good_claims = URL_SAFE_NO_PAD.encode(b"{}");
        let padded_header = base64::engine::general_purpose::URL_SAFE
            .encode(json!({"alg": "ES256", "kid": ec.kid(), "typ": "x"}).to_string());
        assert!(padded_header.ends_with('='), "{padded_header}");
        assert_eq!(
            keys.verify(&sign_text(&padded_header, &good_claims)),
            Err(JwsError::Base64("header"))
        );
        let good_header =
            URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": ec.kid()}).to_string());
        let std_claims = standard.encode(r#"{"s":"???>>>a"}"#);
        assert!(
            std_claims.contains('/') && std_claims.contains('+'),
            "{std_claims}"
        );
        assert!(!std_claims.contains('='), "{std_claims}");
        assert_eq!(
            keys.verify(&sign_text(&good_header, &std_claims)),
            Err(JwsError::Base64("claims"))
        );
        assert!(keys.verify(&sign_text(&good_header, &good_claims)).is_ok());

        // Not JSON, or JSON but not an object.
        for (text, part) in [
            ("not json", "header"),
            ("[1,2]", "header"),
            ("\"JWT\"", "header"),
        ] {
            let bad = format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(text));
            assert_eq!(keys.verify(&bad), Err(JwsError::NotJsonObject(part)));
        }
        for text in ["not json", "[1,2]", "null", "42", ""] {
            let bad = sign_text(&good_header, &URL_SAFE_NO_PAD.encode(text));
            assert_eq!(
                keys.verify(&bad),
                Err(JwsError::NotJsonObject("claims")),
                "{text}"
            );
        }
    }

    #[test]
    fn half_hash_matches_known_values() {
        // OpenID Connect Core 1.0, Appendix A.3 (RS256).
        assert_eq!(
            half_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                Algorithm::RS256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            half_hash(
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk",
                Algorithm::RS256
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        assert_eq!(
            half_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                Algorithm::ES256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        // EdDSA: left 32 bytes of SHA-512, as Python's hashlib (authlib's source) computes it.
        let eddsa = half_hash(
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
            Algorithm::EdDSA,
        );
        assert_eq!(eddsa.len(), 43);
        assert_eq!(eddsa, EDDSA_AT_HASH);
    }

    const EDDSA_AT_HASH: &str = "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM";
}
