//! Approximate location of an address ("Zurich, Switzerland") from a MaxMind-format
//! GeoLite2 City database, when `LATCHKEY_GEOIP_DB` names one.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

/// An open GeoIP database (read into memory once).
pub struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl GeoIp {
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("cannot read {} as a MaxMind database: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    /// "City, Country", "Country", or nothing for a private or unknown address.
    pub fn locate(&self, ip: IpAddr) -> Option<String> {
        let ip = crate::config::canonical_ip(ip);
        let city: geoip2::City = self.reader.lookup(ip).ok().flatten()?;
        let english = |names: &Option<std::collections::BTreeMap<&str, &str>>| {
            names
                .as_ref()
                .and_then(|n| n.get("en"))
                .map(|s| s.to_string())
        };
        let town = city.city.as_ref().and_then(|c| english(&c.names));
        let country = city.country.as_ref().and_then(|c| english(&c.names));
        match (town, country) {
            (Some(t), Some(c)) => Some(format!("{t}, {c}")),
            (None, Some(c)) => Some(c),
            (Some(t), None) => Some(t),
            (None, None) => None,
        }
    }
}
