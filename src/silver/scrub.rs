//! Privacy of free-form JSON kept in silver (`params_extra`, `extra`):
//! keys that identify someone are pseudonymised, keys of contact, identity,
//! location or secret data are redacted, and free text is scanned for
//! e-mails, phone numbers and IP addresses (SILVER-5, C6).

use std::borrow::Cow;

use crate::json::Val;

use super::pseudo::{truncate_ip, Pseudonymizer};

/// Replacement of a value that may identify someone.
pub const REDACTED: &str = "[redacted]";

/// What a key says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Ordinary app-level data: kept (string values still pattern-checked).
    Plain,
    /// An identifier of a person or device: pseudonymised (C6), so it still joins.
    Id,
    /// Contact, identity, location or secret data: replaced by `[redacted]`.
    Personal,
}

/// Key words of personal data (whole tokens of the key).
const PERSONAL_TOKENS: &[&str] = &[
    "name",
    "nom",
    "prenom",
    "surname",
    "ip",
    "tel",
    "dob",
    "card",
    "pan",
    "cvv",
    "iban",
    "bic",
    "token",
    "secret",
    "lat",
    "lng",
    "lon",
    "latitude",
    "longitude",
    "geo",
    "location",
    "gps",
    "zip",
    "postcode",
    "postal",
    "ssn",
    "msisdn",
    "mobile",
    "imei",
    "mac",
    "street",
    "rue",
    "address",
    "adresse",
    "city",
    "ville",
];
/// Substrings of the flattened key that denote personal data.
const PERSONAL_PARTS: &[&str] = &[
    "mail",
    "phone",
    "passw",
    "birth",
    "naissance",
    "firstname",
    "lastname",
    "fullname",
    "username",
    "idfa",
    "gaid",
    "advertising",
    "ipaddr",
];
/// Substrings of the flattened key that denote a person's or device's id.
const ID_PARTS: &[&str] = &[
    "userid",
    "customerid",
    "clientid",
    "deviceid",
    "sessionid",
    "installid",
    "installationid",
    "instanceid",
    "accountid",
    "memberid",
    "visitorid",
    "fingerprint",
];

/// Classify a key of free-form JSON by its name (`user_id`, `userId`,
/// `e-mail`, `shipping_address`…).
pub fn classify_key(key: &str) -> KeyClass {
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let flat: String = tokens.concat();
    if ID_PARTS.iter().any(|p| flat.contains(p))
        || matches!(flat.as_str(), "uid" | "uuid" | "guid" | "fid" | "cid")
    {
        return KeyClass::Id;
    }
    if tokens.iter().any(|t| PERSONAL_TOKENS.contains(&t.as_str()))
        || PERSONAL_PARTS.iter().any(|p| flat.contains(p))
    {
        return KeyClass::Personal;
    }
    KeyClass::Plain
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn looks_like_email(s: &str) -> bool {
    let Some(at) = s.find('@') else {
        return false;
    };
    let (user, domain) = (&s[..at], &s[at + 1..]);
    !user.trim().is_empty() && domain.contains('.') && !domain.starts_with('.')
}

fn looks_like_phone(s: &str) -> bool {
    let t = s.trim();
    if !(t.starts_with('+') || t.starts_with('0')) {
        return false;
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    (9..=15).contains(&digits)
        && t.bytes()
            .all(|c| c.is_ascii_digit() || b" +.-()/".contains(&c))
}

/// A free-text value with what could identify someone removed: an e-mail
/// address or a phone number → `[redacted]`, an IP → truncated (C6), a UUID
/// (device, install or advertising ids) → pseudonymised.
pub fn scrub_text<'s>(s: &'s str, pseudo: &Pseudonymizer) -> Cow<'s, str> {
    if s.contains('@') && s.split_whitespace().any(looks_like_email) {
        return Cow::Borrowed(REDACTED);
    }
    let t = s.trim();
    if is_uuid(t) {
        return Cow::Owned(pseudo.pseudo(t));
    }
    if (t.contains('.') || t.contains(':')) && t.len() <= 45 {
        if let Ok(ip) = t.parse::<std::net::IpAddr>() {
            return Cow::Owned(truncate_ip(&ip.to_string()).unwrap_or_else(|| REDACTED.into()));
        }
    }
    if looks_like_phone(t) {
        return Cow::Borrowed(REDACTED);
    }
    Cow::Borrowed(s)
}

/// Scrub one value of free-form JSON under `key` (see [`classify_key`],
/// [`scrub_text`]); objects are scrubbed key by key, keys sorted.
pub fn scrub_value(key: &str, v: Val<'_>, pseudo: &Pseudonymizer) -> Val<'static> {
    match classify_key(key) {
        KeyClass::Personal => {
            if v.is_null() {
                Val::Null
            } else {
                Val::Str(Cow::Borrowed(REDACTED))
            }
        }
        KeyClass::Id => match &v {
            Val::Null => Val::Null,
            Val::Arr(_) | Val::Obj(_) => Val::Str(Cow::Borrowed(REDACTED)),
            other => match other.to_text() {
                Some(t) if !t.trim().is_empty() => Val::Str(Cow::Owned(pseudo.pseudo(t.trim()))),
                _ => Val::Null,
            },
        },
        KeyClass::Plain => scrub_plain(v, pseudo),
    }
}

fn scrub_plain(v: Val<'_>, pseudo: &Pseudonymizer) -> Val<'static> {
    match v {
        Val::Null => Val::Null,
        Val::Bool(b) => Val::Bool(b),
        Val::I64(n) => Val::I64(n),
        Val::U64(n) => Val::U64(n),
        Val::F64(n) => Val::F64(n),
        Val::Str(s) => Val::Str(Cow::Owned(scrub_text(&s, pseudo).into_owned())),
        Val::Arr(a) => Val::Arr(a.into_iter().map(|x| scrub_plain(x, pseudo)).collect()),
        Val::Obj(o) => Val::Obj(scrub_entries(o, pseudo)),
    }
}

/// Scrub the entries of an object; keys sorted (canonical text).
pub fn scrub_entries(
    entries: Vec<(Cow<'_, str>, Val<'_>)>,
    pseudo: &Pseudonymizer,
) -> Vec<(Cow<'static, str>, Val<'static>)> {
    let mut out: Vec<(Cow<'static, str>, Val<'static>)> = entries
        .into_iter()
        .map(|(k, v)| {
            let v = scrub_value(&k, v, pseudo);
            (Cow::Owned(k.into_owned()), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The JSON text of scrubbed entries (`None` when there are none).
pub fn extra_json(entries: Vec<(Cow<'_, str>, Val<'_>)>, pseudo: &Pseudonymizer) -> Option<String> {
    if entries.is_empty() {
        return None;
    }
    serde_json::to_string(&Val::Obj(scrub_entries(entries, pseudo))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(b"k")
    }
    #[test]
    fn keys_are_classified() {
        for k in [
            "user_id",
            "userId",
            "device-id",
            "customerID",
            "uid",
            "fingerprint",
        ] {
            assert_eq!(classify_key(k), KeyClass::Id, "{k}");
        }
        for k in [
            "email",
            "e_mail",
            "phone_number",
            "first_name",
            "lastName",
            "ip",
            "client_ip",
            "shipping_address",
            "birth_date",
            "lat",
        ] {
            assert_eq!(classify_key(k), KeyClass::Personal, "{k}");
        }
        for k in [
            "experiment_id",
            "debug_mode",
            "item_variant",
            "ga_session_number",
            "campaign_id",
            "widget",
            "position",
            "shipping_eur",
        ] {
            assert_eq!(classify_key(k), KeyClass::Plain, "{k}");
        }
    }

    #[test]
    fn free_text_is_scrubbed() {
        let ps = p();
        assert_eq!(scrub_text("jean.dupont@example.com", &ps), REDACTED);
        assert_eq!(scrub_text("contact jean@x.fr svp", &ps), REDACTED);
        assert_eq!(scrub_text("+33 6 12 34 56 78", &ps), REDACTED);
        assert_eq!(scrub_text("0612345678", &ps), REDACTED);
        assert_eq!(scrub_text("86.13.14.138", &ps), "86.13.14.xxx");
        let u = "48bdd4e0-f0a8-4bb5-aa9c-d090a0cd1f76";
        assert_eq!(scrub_text(u, &ps), ps.pseudo(u));
        for keep in [
            "256 Go",
            "noir",
            "exp_checkout_v2",
            "1773741600267",
            "4.11.2",
            "chaussures running",
        ] {
            assert_eq!(scrub_text(keep, &ps), keep);
        }
        let v: Val = serde_json::from_str(
            r#"{"z":1,"email":"a@b.fr","user_id":"CUST-1","nested":{"phone":"x","ok":"y"},"debug_mode":true}"#,
        )
        .unwrap();
        let Val::Obj(o) = v else { panic!() };
        let s = extra_json(o, &ps).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"debug_mode":true,"email":"[redacted]","nested":{{"ok":"y","phone":"[redacted]"}},"user_id":"{}","z":1}}"#,
                ps.pseudo("CUST-1")
            )
        );
    }
}
