//! Pseudonymisation (CONTRACTS C6): keyed HMAC-SHA-256, the same key in every
//! source so pseudonymised ids still join; IP truncation.

use std::net::{IpAddr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// The key used with `--dev-key` (demo and tests only; never for real data).
pub const DEV_KEY: &str = "kvt-dev-key-NOT-FOR-PRODUCTION";

/// Keyed pseudonyms. The key never leaves this struct (no `Debug` of it).
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(***)")
    }
}

impl Pseudonymizer {
    pub fn new(key: &[u8]) -> Pseudonymizer {
        // HMAC accepts keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        Pseudonymizer { mac }
    }

    pub fn from_secret(key: &Secret) -> Pseudonymizer {
        Pseudonymizer::new(key.expose().as_bytes())
    }

    /// `pseudo(x)`: lowercase hex HMAC-SHA-256 of `x`.
    pub fn pseudo(&self, x: &str) -> String {
        let mut m = self.mac.clone();
        m.update(x.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// Pseudonym of an optional id; empty and placeholder values give `None`.
    pub fn id(&self, x: Option<&str>) -> Option<String> {
        let x = x?.trim();
        if x.is_empty() || x == "-" || x.eq_ignore_ascii_case("null") {
            return None;
        }
        Some(self.pseudo(x))
    }

    /// An e-mail is trimmed and lower-cased before hashing (C6).
    pub fn email(&self, x: Option<&str>) -> Option<String> {
        let x = x?.trim();
        if x.is_empty() {
            return None;
        }
        Some(self.pseudo(&x.to_lowercase()))
    }
}

/// IPv4 keeps three octets (`192.168.1.xxx`, SILVER-NGINX-7); IPv6 keeps its
/// first 48 bits (`2a01:e0a:1f2::/48`). Not an IP → `None`.
pub fn truncate_ip(s: &str) -> Option<String> {
    match s.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.xxx", o[0], o[1], o[2]))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                let o = v4.octets();
                return Some(format!("{}.{}.{}.xxx", o[0], o[1], o[2]));
            }
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            Some(format!("{net}/48"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_keyed_stable_and_lowercase_hex() {
        let a = Pseudonymizer::new(b"k1");
        let b = Pseudonymizer::new(b"k2");
        assert_eq!(a.pseudo("CUST-000123"), a.pseudo("CUST-000123"));
        assert_ne!(a.pseudo("CUST-000123"), b.pseudo("CUST-000123"));
        let h = a.pseudo("x");
        assert_eq!(h.len(), 64);
        assert!(h
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        // RFC 4231 test case 2.
        let t = Pseudonymizer::new(b"Jefe");
        assert_eq!(
            t.pseudo("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(format!("{a:?}"), "Pseudonymizer(***)");
    }

    #[test]
    fn emails_are_normalised_first() {
        let p = Pseudonymizer::new(b"k");
        assert_eq!(
            p.email(Some(" Jean.Dupont@Example.com ")),
            p.email(Some("jean.dupont@example.com"))
        );
        assert_eq!(p.email(Some("  ")), None);
        assert_eq!(p.id(Some("-")), None);
        assert_eq!(p.id(Some("NULL")), None);
    }

    #[test]
    fn ips() {
        assert_eq!(
            truncate_ip("192.168.1.45").as_deref(),
            Some("192.168.1.xxx")
        );
        assert_eq!(
            truncate_ip("2a01:e0a:1f2:3b40::1").as_deref(),
            Some("2a01:e0a:1f2::/48")
        );
        assert_eq!(
            truncate_ip("::ffff:10.1.2.3").as_deref(),
            Some("10.1.2.xxx")
        );
        assert_eq!(truncate_ip("not-an-ip"), None);
        assert_eq!(truncate_ip("-"), None);
    }
}
