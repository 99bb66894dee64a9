use super::*;

const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

#[test]
fn algorithm_names_round_trip() {
    for alg in ALL {
        assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
        assert_eq!(alg.to_string(), alg.as_str());
        let json = serde_json::to_value(alg).unwrap();
        assert_eq!(json, Value::String(alg.as_str().into()));
        assert_eq!(serde_json::from_value::<Algorithm>(json).unwrap(), alg);
    }
    for name in ["none", "HS256", "rs256", "ES384", "EDDSA", "Ed25519", ""] {
        assert_eq!(Algorithm::parse(name), None, "{name}");
    }
}

#[test]
fn kid_is_the_rfc_7638_thumbprint() {
    // The example key of RFC 7638 §3.1, without its own "kid".
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
    });
    let key = VerifyingKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.alg(), Algorithm::RS256);

    // A kid the JWK names is the one tokens will carry, so it wins.
    let mut named = jwk.clone();
    named["kid"] = "2011-04-29".into();
    assert_eq!(VerifyingKey::from_jwk(&named).unwrap().kid(), "2011-04-29");

    // A leading zero octet is tolerated and does not change the thumbprint.
    let mut padded = jwk.clone();
    let mut n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    n.insert(0, 0);
    padded["n"] = b64(&n).into();
    assert_eq!(
        VerifyingKey::from_jwk(&padded).unwrap().kid(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn generated_keys_publish_their_jwk_and_verify_their_signatures() {
    for alg in ALL {
        let key = SigningKey::generate(alg);
        let jwk = key.public_jwk();
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(key.kid().len(), 43, "base64url of 32 bytes, unpadded");
        match alg {
            Algorithm::RS256 => {
                assert_eq!(jwk["kty"], "RSA");
                assert_eq!(jwk["e"], "AQAB", "e = 65537");
                let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
                assert_eq!(n.len(), 256);
                assert_ne!(n[0], 0);
            }
            Algorithm::ES256 => {
                assert_eq!(jwk["kty"], "EC");
                assert_eq!(jwk["crv"], "P-256");
                assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
                assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
            }
            Algorithm::EdDSA => {
                assert_eq!(jwk["kty"], "OKP");
                assert_eq!(jwk["crv"], "Ed25519");
                assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
            }
        }
        for text in [&jwk.to_string(), &format!("{key:?}")] {
            assert!(!text.contains("\"d\""), "no private member: {text}");
        }
        assert!(!format!("{key:?}").contains(&b64(&key.to_pkcs8())));

        let signature = key.sign(b"message");
        if alg == Algorithm::ES256 {
            assert_eq!(signature.len(), 64, "fixed-length r||s");
        }
        let from_jwk = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(from_jwk.kid(), key.kid());
        assert_eq!(from_jwk.alg(), alg);
        assert!(from_jwk.verify(b"message", &signature));
        assert!(key.verifying_key().verify(b"message", &signature));
        assert!(!from_jwk.verify(b"messagf", &signature));
        let mut flipped = signature.clone();
        flipped[signature.len() / 2] ^= 0x01;
        assert!(!from_jwk.verify(b"message", &flipped));
        let other = SigningKey::generate(alg).verifying_key();
        assert!(!other.verify(b"message", &signature));
    }
}

#[test]
fn pkcs8_round_trip_keeps_the_key() {
    for alg in ALL {
        let key = SigningKey::generate(alg);
        let original_public = VerifyingKey::from_jwk(&key.public_jwk()).unwrap();
        let reloaded = SigningKey::from_pkcs8(alg, &key.to_pkcs8()).unwrap();
        assert_eq!(reloaded.kid(), key.kid());
        assert_eq!(reloaded.public_jwk(), key.public_jwk());
        assert!(original_public.verify(b"after reload", &reloaded.sign(b"after reload")));
        for wrong in ALL.into_iter().filter(|other| *other != alg) {
            assert!(
                matches!(
                    SigningKey::from_pkcs8(wrong, &key.to_pkcs8()),
                    Err(KeyError::Pkcs8 { .. })
                ),
                "{alg} key loaded as {wrong}"
            );
        }
    }
    assert!(SigningKey::from_pkcs8(Algorithm::ES256, b"not der").is_err());
}

#[test]
fn jwks_that_do_not_fit_together_are_rejected() {
    let rsa = SigningKey::generate(Algorithm::RS256).public_jwk();
    let ec = SigningKey::generate(Algorithm::ES256).public_jwk();
    let ed = SigningKey::generate(Algorithm::EdDSA).public_jwk();
    let with = |jwk: &Value, member: &str, value: Value| {
        let mut jwk = jwk.clone();
        jwk[member] = value;
        jwk
    };
    let without = |jwk: &Value, member: &str| {
        let mut jwk = jwk.clone();
        jwk.as_object_mut().unwrap().remove(member);
        jwk
    };
    let cases = [
        (with(&rsa, "alg", "ES256".into()), "RSA key claiming ES256"),
        (with(&rsa, "alg", "PS256".into()), "RSA key claiming PS256"),
        (with(&rsa, "alg", "HS256".into()), "RSA key claiming HS256"),
        (with(&ec, "alg", "RS256".into()), "EC key claiming RS256"),
        (with(&ec, "alg", "EdDSA".into()), "EC key claiming EdDSA"),
        (with(&ed, "alg", "ES256".into()), "OKP key claiming ES256"),
        (with(&ec, "crv", "P-384".into()), "P-384"),
        (with(&ec, "crv", "Ed25519".into()), "EC with an OKP curve"),
        (with(&ed, "crv", "P-256".into()), "OKP with an EC curve"),
        (
            with(&ed, "crv", "X25519".into()),
            "X25519 is not for signing",
        ),
        (with(&ec, "kty", "OKP".into()), "OKP with an EC curve"),
        (with(&rsa, "kty", "oct".into()), "symmetric key type"),
        (with(&rsa, "use", "enc".into()), "encryption key"),
        (with(&rsa, "d", "AQAB".into()), "private member"),
        (with(&ec, "x", "AQAB".into()), "short coordinate"),
        (with(&ec, "x", (b64(&[1u8; 32]) + "=").into()), "padding"),
        (with(&rsa, "n", "AQAB".into()), "tiny modulus"),
        (without(&rsa, "e"), "no exponent"),
        (without(&ec, "y"), "no y"),
        (without(&ed, "crv"), "no crv"),
        (without(&rsa, "kty"), "no kty"),
        (json!(["not", "an", "object"]), "array"),
    ];
    for (jwk, why) in cases {
        assert!(VerifyingKey::from_jwk(&jwk).is_err(), "accepted: {why}");
    }
    // A point that is not on the curve.
    let mut off_curve = ec.clone();
    let mut y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    off_curve["y"] = b64(&y).into();
    assert!(matches!(
        VerifyingKey::from_jwk(&off_curve),
        Err(KeyError::InvalidPublicKey(Algorithm::ES256))
    ));
    // alg, use and kid are optional.
    for jwk in [&rsa, &ec, &ed] {
        let bare = without(&without(&without(jwk, "alg"), "use"), "kid");
        assert_eq!(
            VerifyingKey::from_jwk(&bare).unwrap().kid(),
            jwk["kid"].as_str().unwrap()
        );
    }
}

#[test]
fn one_key_signs_from_many_threads() {
    for alg in ALL {
        let key = std::sync::Arc::new(SigningKey::generate(alg));
        let verifier = key.verifying_key();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let key = key.clone();
                let verifier = &verifier;
                scope.spawn(move || {
                    for i in 0..25 {
                        let message = format!("{thread}/{i}");
                        assert!(verifier.verify(message.as_bytes(), &key.sign(message.as_bytes())));
                    }
                });
            }
        });
    }
}

/// OpenSSL, which nobody here wrote, must accept our signatures and our PKCS#8, and
/// we must accept its PKCS#8.
#[test]
fn openssl_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    for alg in ALL {
        // Our key, checked by OpenSSL with the SubjectPublicKeyInfo aws-lc produces.
        let key = SigningKey::generate(alg);
        let spki = key.verifying_key().key.as_der().unwrap();
        std::fs::write(dir.join("pub.pem"), pem("PUBLIC KEY", spki.as_ref())).unwrap();
        assert_openssl_verifies(dir, &key);

        // OpenSSL reads the PKCS#8 we store and finds the same public key in it ...
        std::fs::write(dir.join("ours.der"), key.to_pkcs8()).unwrap();
        let public = openssl(dir, "pkey -inform DER -in ours.der -pubout -outform DER");
        assert_eq!(public, spki.as_ref(), "{alg}");

        // ... and we read the PKCS#8 it makes (genpkey's own DER output is the
        // traditional per-type form, hence pkcs8 -topk8), and it verifies our use of it.
        openssl(
            dir,
            match alg {
                Algorithm::RS256 => {
                    "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out theirs.pem"
                }
                Algorithm::ES256 => {
                    "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out theirs.pem"
                }
                Algorithm::EdDSA => "genpkey -algorithm ED25519 -out theirs.pem",
            },
        );
        openssl(
            dir,
            "pkcs8 -topk8 -nocrypt -in theirs.pem -outform DER -out theirs.der",
        );
        openssl(dir, "pkey -in theirs.pem -pubout -out pub.pem");
        let der = std::fs::read(dir.join("theirs.der")).unwrap();
        assert_openssl_verifies(dir, &SigningKey::from_pkcs8(alg, &der).unwrap());
    }
}

/// Sign a JWS-like input with `key` and have OpenSSL check it against `pub.pem`.
fn assert_openssl_verifies(dir: &std::path::Path, key: &SigningKey) {
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";
    std::fs::write(dir.join("msg"), message).unwrap();
    let signature = match key.alg() {
        Algorithm::ES256 => ecdsa_der(&key.sign(message)),
        _ => key.sign(message),
    };
    std::fs::write(dir.join("sig"), signature).unwrap();
    let out = openssl(
        dir,
        match key.alg() {
            Algorithm::EdDSA => "pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg -sigfile sig",
            _ => "dgst -sha256 -verify pub.pem -signature sig msg",
        },
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("Verified OK") || out.contains("Signature Verified Successfully"));
}

/// Run `openssl` with whitespace-separated `args` in `dir`; its stdout, or a panic.
fn openssl(dir: &std::path::Path, args: &str) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command must be installed for this test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args}: {stderr}");
    out.stdout
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = (0..body.len())
        .step_by(64)
        .map(|at| &body[at..body.len().min(at + 64)])
        .collect();
    let body = lines.join("\n");
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

/// JOSE's r||s as the DER `SEQUENCE { INTEGER r, INTEGER s }` OpenSSL expects.
fn ecdsa_der(signature: &[u8]) -> Vec<u8> {
    let integer = |bytes: &[u8]| {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut value = bytes[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0); // DER integers are signed
        }
        [vec![0x02, value.len() as u8], value].concat()
    };
    let body = [integer(&signature[..32]), integer(&signature[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}
