//! A string that never shows itself in logs, `Debug` or `Display`.

use std::fmt;

/// A secret value (password, API key, pseudonymisation key).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The value itself: call only where it is handed to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Read a secret from the environment (empty = unset).
    pub fn from_env(name: &str) -> Option<Secret> {
        crate::env::get(name).map(Secret)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// A connection URL for messages: the password, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // libpq-style URLs may carry it as a parameter too.
            if u.query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("password"))
            {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.eq_ignore_ascii_case("password") {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://kvt:s3cret@db:5432/warehouse"),
            "postgres://kvt:***@db:5432/warehouse"
        );
        assert_eq!(
            redact_url("postgres://kvt@127.0.0.1:5432/warehouse"),
            "postgres://kvt@127.0.0.1:5432/warehouse"
        );
        let r = redact_url("postgres://kvt@db/wh?sslmode=disable&password=s3cret");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("sslmode=disable"), "{r}");
    }
}
