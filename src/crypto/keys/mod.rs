//! Token signing keys: generation, the PKCS#8 form kept (sealed) in the database, the
//! public JWK published at the JWKS endpoint, and verification keys built from JWKs.
//!
//! Three JOSE algorithms, one key type each, so a key's algorithm is never a guess:
//! RS256 (RSA-2048, e = 65537), ES256 (P-256, fixed-length r||s) and EdDSA (Ed25519).
//! A key's `kid` is its RFC 7638 thumbprint, so the same key always has the same id and
//! two different keys never share one.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// RSA moduli accepted from PKCS#8 documents and JWKs, in bits (what aws-lc verifies).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;
/// Length of a P-256 coordinate and of an Ed25519 public key.
const COORDINATE_LEN: usize = 32;

/// A JOSE signature algorithm Latchkey signs and verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the one every relying party supports.
    RS256,
    /// ECDSA P-256 with SHA-256: small and fast.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// The JOSE name (`alg` header value).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm with exactly this JOSE name; case matters, as in JOSE.
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "RS256" => Some(Algorithm::RS256),
            "ES256" => Some(Algorithm::ES256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a private key could not be loaded or a JWK not turned into a verifying key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the PKCS#8 document is not a valid {alg} private key")]
    Pkcs8 { alg: Algorithm },
    #[error("the JWK is not a JSON object")]
    NotAnObject,
    #[error("the JWK member \"{0}\" is missing or not a string")]
    MissingMember(&'static str),
    #[error("the JWK member \"{0}\" is not unpadded base64url")]
    Base64(&'static str),
    #[error("JWK kty \"{0}\" is not supported (RSA, EC and OKP are)")]
    UnsupportedKeyType(String),
    #[error("JWK curve \"{crv}\" is not supported for kty \"{kty}\" (P-256 and Ed25519 are)")]
    UnsupportedCurve { kty: String, crv: String },
    #[error("JWK alg \"{alg}\" does not fit this key; a {kty} key here is {expected}")]
    AlgorithmMismatch {
        alg: String,
        kty: &'static str,
        expected: Algorithm,
    },
    #[error("JWK use \"{0}\" is not \"sig\"")]
    NotForSignatures(String),
    #[error("the JWK contains private key material; only public keys are accepted")]
    PrivateMaterial,
    #[error("JWK member \"{member}\" must be {expected} bytes, not {actual}")]
    Length {
        member: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("RSA modulus of {0} bits is outside the accepted 2048 to 8192")]
    RsaKeySize(usize),
    #[error("the JWK does not describe a valid {0} public key")]
    InvalidPublicKey(Algorithm),
}

/// The private half of a signing key, parsed once and reused for every signature.
enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key that signs tokens; cheap to share (`Arc`) across threads.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    private: PrivateKey,
    public: PublicKey,
}

// The signer is cached in an `Arc` and used by every request thread at once; a change
// that loses `Send + Sync` must fail here rather than at the far end of the app.
const _: fn() = || {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<SigningKey>();
    shared_across_threads::<VerifyingKey>();
};

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key for `alg` from the system random source.
    pub fn generate(alg: Algorithm) -> SigningKey {
        // Generation fails only when the system random source does; nothing can go on then.
        let private = match alg {
            Algorithm::RS256 => PrivateKey::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation failed"),
            ),
            Algorithm::ES256 => PrivateKey::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("P-256 key generation failed"),
            ),
            Algorithm::EdDSA => {
                PrivateKey::Ed(Ed25519KeyPair::generate().expect("Ed25519 key generation failed"))
            }
        };
        SigningKey::new(alg, private)
    }

    /// Load a key from the PKCS#8 document [`SigningKey::to_pkcs8`] made (or OpenSSL's).
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<SigningKey, KeyError> {
        let rejected = |_| KeyError::Pkcs8 { alg };
        let private = match alg {
            Algorithm::RS256 => PrivateKey::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            Algorithm::ES256 => PrivateKey::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            Algorithm::EdDSA => PrivateKey::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?),
        };
        Ok(SigningKey::new(alg, private))
    }

    fn new(alg: Algorithm, private: PrivateKey) -> SigningKey {
        let public = match &private {
            PrivateKey::Rsa(pair) => {
                let key = pair.public_key();
                PublicKey::Rsa {
                    n: key.modulus().big_endian_without_leading_zero().to_vec(),
                    e: key.exponent().big_endian_without_leading_zero().to_vec(),
                }
            }
            PrivateKey::Ec(pair) => {
                // aws-lc gives the uncompressed SEC 1 point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                PublicKey::Ec {
                    x: point[1..1 + COORDINATE_LEN].to_vec(),
                    y: point[1 + COORDINATE_LEN..].to_vec(),
                }
            }
            PrivateKey::Ed(pair) => PublicKey::Ed {
                x: pair.public_key().as_ref().to_vec(),
            },
        };
        SigningKey {
            alg,
            kid: public.thumbprint(),
            private,
            public,
        }
    }

    /// The PKCS#8 v1 document of the private key: seal it before it touches storage.
    pub fn to_pkcs8(&self) -> Vec<u8> {
        // v1 for all three so `openssl pkey` reads what we store; none of these fail
        // for a key aws-lc itself holds.
        match &self.private {
            PrivateKey::Rsa(pair) => pair
                .as_der()
                .expect("RSA PKCS#8 encoding")
                .as_ref()
                .to_vec(),
            PrivateKey::Ec(pair) => pair
                .to_pkcs8v1()
                .expect("EC PKCS#8 encoding")
                .as_ref()
                .to_vec(),
            PrivateKey::Ed(pair) => pair
                .to_pkcs8v1()
                .expect("Ed25519 PKCS#8 encoding")
                .as_ref()
                .to_vec(),
        }
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id: the RFC 7638 SHA-256 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK for the JWKS document, with `use`, `alg` and `kid`.
    pub fn public_jwk(&self) -> Value {
        self.public.to_jwk(self.alg, &self.kid)
    }

    /// The public half, to check this key's own signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            kid: self.kid.clone(),
            alg: self.alg,
            key: self
                .public
                .parse()
                .expect("the public half of a valid private key parses"),
        }
    }

    /// Sign `message`: PKCS#1 v1.5 SHA-256, 64-byte r||s, or Ed25519 by algorithm.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        // Signing with a key aws-lc accepted fails only on allocation failure.
        match &self.private {
            PrivateKey::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .expect("RSA signing failed");
                signature
            }
            PrivateKey::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing failed")
                .as_ref()
                .to_vec(),
            PrivateKey::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// A public key that checks signatures, from a JWK or from a [`SigningKey`].
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Build from a public JWK; `alg`, `use` and `kid` are optional but must fit the key.
    ///
    /// Without `alg` the key type decides it (each type has one algorithm here); without
    /// `kid` the RFC 7638 thumbprint is the id.
    pub fn from_jwk(jwk: &Value) -> Result<VerifyingKey, KeyError> {
        let jwk = jwk.as_object().ok_or(KeyError::NotAnObject)?;
        // A private JWK pasted where a public one belongs would be stored in clear.
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|member| jwk.contains_key(*member))
        {
            return Err(KeyError::PrivateMaterial);
        }
        let kty = string_member(jwk, "kty")?;
        let (alg, public) = match kty {
            "RSA" => {
                // RFC 7518 forbids leading zero octets but some libraries emit one; the
                // integer is the same, and aws-lc wants the minimal form.
                let n = strip_leading_zeros(base64_member(jwk, "n")?);
                let e = strip_leading_zeros(base64_member(jwk, "e")?);
                let bits = bit_length(&n);
                if !RSA_BITS.contains(&bits) {
                    return Err(KeyError::RsaKeySize(bits));
                }
                (Algorithm::RS256, PublicKey::Rsa { n, e })
            }
            "EC" | "OKP" => {
                let crv = string_member(jwk, "crv")?;
                match (kty, crv) {
                    ("EC", "P-256") => {
                        let x = fixed_member(jwk, "x")?;
                        let y = fixed_member(jwk, "y")?;
                        (Algorithm::ES256, PublicKey::Ec { x, y })
                    }
                    ("OKP", "Ed25519") => {
                        let x = fixed_member(jwk, "x")?;
                        (Algorithm::EdDSA, PublicKey::Ed { x })
                    }
                    _ => {
                        return Err(KeyError::UnsupportedCurve {
                            kty: kty.to_owned(),
                            crv: crv.to_owned(),
                        });
                    }
                }
            }
            other => return Err(KeyError::UnsupportedKeyType(other.to_owned())),
        };
        if let Some(named) = jwk.get("alg") {
            let named = named.as_str().ok_or(KeyError::MissingMember("alg"))?;
            if Algorithm::parse(named) != Some(alg) {
                return Err(KeyError::AlgorithmMismatch {
                    alg: named.to_owned(),
                    kty: public.kty(),
                    expected: alg,
                });
            }
        }
        if let Some(usage) = jwk.get("use") {
            let usage = usage.as_str().ok_or(KeyError::MissingMember("use"))?;
            if usage != "sig" {
                return Err(KeyError::NotForSignatures(usage.to_owned()));
            }
        }
        let kid = match jwk.get("kid") {
            Some(kid) => kid
                .as_str()
                .ok_or(KeyError::MissingMember("kid"))?
                .to_owned(),
            None => public.thumbprint(),
        };
        let key = public
            .parse()
            .map_err(|_| KeyError::InvalidPublicKey(alg))?;
        Ok(VerifyingKey { kid, alg, key })
    }

    /// The key id tokens name in their `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key accepts.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Whether `signature` is this key's signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// Raw public key numbers, the common ground of JWKs, thumbprints and aws-lc keys.
enum PublicKey {
    /// Big-endian modulus and exponent, no leading zero octets.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 affine coordinates, 32 bytes each.
    Ec { x: Vec<u8>, y: Vec<u8> },
    /// The 32-byte Ed25519 public key.
    Ed { x: Vec<u8> },
}

impl PublicKey {
    fn kty(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::Ec { .. } => "EC",
            PublicKey::Ed { .. } => "OKP",
        }
    }

    /// RFC 7638: SHA-256 over the required members, sorted, without whitespace. The
    /// values are base64url text and fixed names, so no JSON escaping can arise.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicKey::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            PublicKey::Ec { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ),
            PublicKey::Ed { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x)),
        };
        b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    fn to_jwk(&self, alg: Algorithm, kid: &str) -> Value {
        let mut jwk = match self {
            PublicKey::Rsa { n, e } => json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
            PublicKey::Ec { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            PublicKey::Ed { x } => json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
        };
        let members = jwk.as_object_mut().expect("built as an object");
        members.insert("use".into(), "sig".into());
        members.insert("alg".into(), alg.as_str().into());
        members.insert("kid".into(), kid.into());
        jwk
    }

    /// The aws-lc verifier, parsed (and the point or modulus checked) once, here.
    fn parse(&self) -> Result<ParsedPublicKey, aws_lc_rs::error::KeyRejected> {
        match self {
            PublicKey::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            }
            PublicKey::Ec { x, y } => {
                let mut point = Vec::with_capacity(1 + 2 * COORDINATE_LEN);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).parse()
            }
            PublicKey::Ed { x } => UnparsedPublicKey::new(&ED25519, x).parse(),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn string_member<'a>(jwk: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, KeyError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or(KeyError::MissingMember(name))
}

fn base64_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    URL_SAFE_NO_PAD
        .decode(string_member(jwk, name)?)
        .map_err(|_| KeyError::Base64(name))
}

/// A curve coordinate or Ed25519 key: RFC 7518 §6.2.1.2 and RFC 8037 fix the length.
fn fixed_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    let bytes = base64_member(jwk, name)?;
    if bytes.len() != COORDINATE_LEN {
        return Err(KeyError::Length {
            member: name,
            expected: COORDINATE_LEN,
            actual: bytes.len(),
        });
    }
    Ok(bytes)
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        Some(first) => big_endian.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests;
