//! Distinguished names (RFC 4514): parsed from what clients send, compared without
//! regard to case or the spaces around separators, printed with escapes.
//!
//! Hostile input is bounded: a DN longer than `DN_MAX` bytes or with more than
//! `RDN_MAX` components is refused before anything else looks at it.

use std::fmt;

/// The longest DN accepted, in bytes.
pub const DN_MAX: usize = 2048;
/// The most components (RDNs) a DN may have.
const RDN_MAX: usize = 32;

/// One `attribute=value` of a relative DN; the attribute in lower case, the value as
/// given (unescaped) and in its matching form (lower case).
#[derive(Debug, Clone)]
pub struct Ava {
    pub attr: String,
    pub value: String,
    folded: String,
}

impl PartialEq for Ava {
    fn eq(&self, other: &Ava) -> bool {
        self.attr == other.attr && self.folded == other.folded
    }
}
impl Eq for Ava {}

/// A relative DN: usually one `attr=value`, several joined by `+`.
pub type Rdn = Vec<Ava>;

/// A parsed DN, most specific component first (as written).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn(Vec<Rdn>);

/// Why a DN could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("longer than {DN_MAX} bytes")]
    TooLong,
    #[error("more than {RDN_MAX} components")]
    TooDeep,
    #[error("a component has no `=`")]
    MissingEquals,
    #[error("an attribute name is not valid")]
    BadAttribute,
    #[error("an escape sequence is not valid")]
    BadEscape,
    #[error("a component is empty")]
    Empty,
}

impl Ava {
    pub fn new(attr: &str, value: &str) -> Ava {
        Ava {
            attr: attr.to_ascii_lowercase(),
            value: value.to_string(),
            folded: value.to_lowercase(),
        }
    }

    /// The value in its matching form (lower case).
    pub fn folded(&self) -> &str {
        &self.folded
    }
}

impl Dn {
    /// The empty DN (the RootDSE).
    pub fn root() -> Dn {
        Dn(Vec::new())
    }

    pub fn parse(text: &str) -> Result<Dn, DnError> {
        if text.len() > DN_MAX {
            return Err(DnError::TooLong);
        }
        if text.trim().is_empty() {
            return Ok(Dn::root());
        }
        let mut rdns = Vec::new();
        let mut rdn: Rdn = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            // attribute type
            let mut attr = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                if c == ',' || c == '+' || c == ';' {
                    return Err(DnError::MissingEquals);
                }
                attr.push(c);
                chars.next();
            }
            if chars.next() != Some('=') {
                return Err(DnError::MissingEquals);
            }
            let attr = attr.trim();
            if !valid_attribute(attr) {
                return Err(DnError::BadAttribute);
            }
            // value
            let mut value = String::new();
            let mut bytes: Vec<u8> = Vec::new();
            // Trailing unescaped spaces are not part of the value.
            let mut keep = 0usize;
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            let mut end = None;
            while let Some(c) = chars.next() {
                match c {
                    ',' | ';' | '+' => {
                        end = Some(c);
                        break;
                    }
                    '\\' => {
                        let Some(next) = chars.next() else {
                            return Err(DnError::BadEscape);
                        };
                        if next.is_ascii_hexdigit() {
                            let Some(low) = chars.next().filter(char::is_ascii_hexdigit) else {
                                return Err(DnError::BadEscape);
                            };
                            let byte = u8::from_str_radix(&format!("{next}{low}"), 16)
                                .map_err(|_| DnError::BadEscape)?;
                            bytes.push(byte);
                        } else if " \"#+,;<=>\\".contains(next) {
                            flush(&mut bytes, &mut value)?;
                            value.push(next);
                        } else {
                            return Err(DnError::BadEscape);
                        }
                        flush_if_complete(&mut bytes, &mut value);
                        keep = value.len() + bytes.len();
                    }
                    c => {
                        flush(&mut bytes, &mut value)?;
                        value.push(c);
                        if c != ' ' {
                            keep = value.len();
                        }
                    }
                }
            }
            flush(&mut bytes, &mut value)?;
            value.truncate(keep.min(value.len()));
            if value.is_empty() {
                return Err(DnError::Empty);
            }
            rdn.push(Ava::new(attr, &value));
            match end {
                Some('+') => continue,
                Some(_) => {
                    rdns.push(std::mem::take(&mut rdn));
                    if rdns.len() > RDN_MAX {
                        return Err(DnError::TooDeep);
                    }
                }
                None => {
                    rdns.push(rdn);
                    if rdns.len() > RDN_MAX {
                        return Err(DnError::TooDeep);
                    }
                    return Ok(Dn(rdns));
                }
            }
        }
    }

    /// `dc=` components from each label of a host name (`sso.example.org` →
    /// `dc=sso,dc=example,dc=org`).
    pub fn from_host(host: &str) -> Dn {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Dn(host
            .split(['.', ':'])
            .filter(|label| !label.is_empty())
            .map(|label| vec![Ava::new("dc", label)])
            .collect())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `attr=value,<self>`.
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        let mut rdns = Vec::with_capacity(self.0.len() + 1);
        rdns.push(vec![Ava::new(attr, value)]);
        rdns.extend(self.0.iter().cloned());
        Dn(rdns)
    }

    /// The components of `self` above `suffix`, when `self` is `suffix` or below it.
    pub fn strip_suffix(&self, suffix: &Dn) -> Option<&[Rdn]> {
        let n = self.0.len().checked_sub(suffix.0.len())?;
        (self.0[n..] == suffix.0[..]).then(|| &self.0[..n])
    }

    /// The first (most specific) component, when it is a single `attr=value`.
    pub fn leaf(&self) -> Option<&Ava> {
        match self.0.first() {
            Some(rdn) if rdn.len() == 1 => rdn.first(),
            _ => None,
        }
    }

    pub fn rdns(&self) -> &[Rdn] {
        &self.0
    }
}

fn valid_attribute(attr: &str) -> bool {
    let descr = attr.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !attr.is_empty()
        && attr
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    attr.len() <= 64 && (descr || oid)
}

/// Move escaped bytes that form complete UTF-8 into the value.
fn flush_if_complete(bytes: &mut Vec<u8>, value: &mut String) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        value.push_str(s);
        bytes.clear();
    }
}

/// Move escaped bytes into the value; they must be complete UTF-8 by now.
fn flush(bytes: &mut Vec<u8>, value: &mut String) -> Result<(), DnError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let s = std::str::from_utf8(bytes).map_err(|_| DnError::BadEscape)?;
    value.push_str(s);
    bytes.clear();
    Ok(())
}

/// A value escaped for a DN string (RFC 4514 §2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}={}", ava.attr, escape_value(&ava.value))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_or_spaces() {
        let a = Dn::parse("UID=Alice, OU=People ,dc=Example,dc=org").unwrap();
        let b = Dn::parse("uid=alice,ou=people,dc=example,dc=org").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "uid=alice,ou=people,dc=example,dc=org");
        let base = Dn::parse("dc=example,dc=org").unwrap();
        let above = a.strip_suffix(&base).unwrap();
        assert_eq!(above.len(), 2);
        assert!(base.strip_suffix(&a).is_none());
        assert_eq!(a.leaf().unwrap().folded(), "alice");
    }

    #[test]
    fn escapes_are_read_and_written() {
        let dn = Dn::parse(r"cn=Smith\, John,ou=x").unwrap();
        assert_eq!(dn.leaf().unwrap().value, "Smith, John");
        assert_eq!(dn.to_string(), r"cn=Smith\, John,ou=x");
        let hex = Dn::parse(r"cn=caf\C3\A9,ou=x").unwrap();
        assert_eq!(hex.leaf().unwrap().value, "café");
        let spaced = Dn::parse(r"cn=\ a\ ,ou=x").unwrap();
        assert_eq!(spaced.leaf().unwrap().value, " a ");
        assert_eq!(escape_value(" #a "), r"\ #a\ ");
        assert_eq!(
            Dn::parse("cn=a+uid=b,dc=x").unwrap().rdns()[0].len(),
            2,
            "multi-valued RDN"
        );
    }

    #[test]
    fn hostile_names_are_refused_not_panicked_on() {
        for bad in [
            "uid",
            "=alice",
            "uid=",
            "uid=a,",
            r"uid=a\",
            r"uid=a\4",
            r"uid=\ZZ",
            r"cn=\C3",
            "1x=a",
            "u id=a",
            ",",
            "uid=a,,dc=x",
        ] {
            assert!(Dn::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Dn::parse(&"a".repeat(DN_MAX + 1)), Err(DnError::TooLong));
        let deep = vec!["dc=x"; RDN_MAX + 1].join(",");
        assert_eq!(Dn::parse(&deep), Err(DnError::TooDeep));
        assert!(Dn::parse("").unwrap().is_root());
        assert!(Dn::parse("2.5.4.3=a").is_ok(), "numeric attribute");
    }

    #[test]
    fn the_base_comes_from_the_host() {
        assert_eq!(
            Dn::from_host("sso.example.org").to_string(),
            "dc=sso,dc=example,dc=org"
        );
        assert_eq!(Dn::from_host("localhost").to_string(), "dc=localhost");
    }
}
