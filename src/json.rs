//! A borrowed, lenient JSON value for reading outside data line by line
//! (bronze Kafka envelopes, Firebase events): strings borrow from the input
//! when they have no escapes, objects keep their keys in input order
//! (duplicates included), numbers keep their JSON type, and conversions are
//! lenient (`"12.50"` is a number when a number is asked for).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value borrowing its strings from the input when they have no
/// escapes. Objects keep their keys in input order (duplicates included).
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj(Vec<(Cow<'a, str>, Val<'a>)>),
}

impl<'a> Val<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Text of a scalar: strings as they are, numbers and booleans printed.
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Val::I64(n) => Some(Cow::Owned(n.to_string())),
            Val::U64(n) => Some(Cow::Owned(n.to_string())),
            Val::F64(n) => Some(Cow::Owned(n.to_string())),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// A number, or a string holding one (`"12.50"`).
    pub fn to_f64(&self) -> Option<f64> {
        let v = match self {
            Val::I64(n) => *n as f64,
            Val::U64(n) => *n as f64,
            Val::F64(n) => *n,
            Val::Str(s) => s.trim().parse::<f64>().ok()?,
            _ => return None,
        };
        v.is_finite().then_some(v)
    }

    /// An integer: JSON integers, integral floats, strings holding one.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Val::I64(n) => Some(*n),
            Val::U64(n) => i64::try_from(*n).ok(),
            Val::F64(f) => float_to_i64(*f),
            Val::Str(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(float_to_i64))
            }
            _ => None,
        }
    }

    /// A boolean, or the strings `true`/`false`.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(*b),
            Val::Str(s) => match s.trim() {
                "true" | "TRUE" | "True" => Some(true),
                "false" | "FALSE" | "False" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

fn float_to_i64(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor(std::marker::PhantomData))
    }
}

struct ValVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValVisitor<'a> {
    type Value = Val<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val<'a>, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'a>, E> {
        Ok(Val::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'a>, E> {
        Ok(match i64::try_from(v) {
            Ok(n) => Val::I64(n),
            Err(_) => Val::U64(v),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val<'a>, E> {
        Ok(Val::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Val<'a>, E> {
        Ok(Val::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val<'a>, E> {
        Ok(Val::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'a>, D::Error> {
        Val::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element::<Val<'a>>()? {
            out.push(v);
        }
        Ok(Val::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(Key(k)) = map.next_key::<Key<'a>>()? {
            let v = map.next_value::<Val<'a>>()?;
            out.push((k, v));
        }
        Ok(Val::Obj(out))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::I64(n) => s.serialize_i64(*n),
            Val::U64(n) => s.serialize_u64(*n),
            Val::F64(n) => s.serialize_f64(*n),
            Val::Str(v) => s.serialize_str(v),
            Val::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Val::Obj(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

/// Why a line is not usable JSON, without quoting any of its content (a
/// serde message may contain the offending value, which may be personal data).
pub fn describe_json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Syntax => {
            format!("not valid JSON (syntax error at column {})", e.column())
        }
        serde_json::error::Category::Eof => "not valid JSON (truncated)".to_string(),
        serde_json::error::Category::Data => format!(
            "unexpected JSON structure (a duplicate or mistyped field) at column {}",
            e.column()
        ),
        serde_json::error::Category::Io => "unreadable line".to_string(),
    }
}

/// Does the line look like a JSON object (first non-blank byte `{`)?
pub fn is_object_line(line: &[u8]) -> bool {
    line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn val_borrows_and_converts() {
        let text =
            r#"{"a":"x","b":"1773741600267","c":12.5,"d":[1,null],"e":{"f":true},"g":"\u00e9"}"#;
        let v: Val = serde_json::from_str(text).unwrap();
        let Val::Obj(o) = v else { panic!() };
        assert!(matches!(o[0].1, Val::Str(Cow::Borrowed("x"))));
        assert_eq!(o[1].1.to_i64(), Some(1_773_741_600_267));
        assert_eq!(o[2].1.to_f64(), Some(12.5));
        assert_eq!(o[2].1.to_i64(), None);
        assert_eq!(o[5].1.as_str(), Some("é"));
        assert_eq!(
            serde_json::to_string(&Val::Obj(o)).unwrap(),
            text.replace("\\u00e9", "é")
        );
        assert_eq!(Val::Str("3.0".into()).to_i64(), Some(3));
        assert_eq!(Val::Str("abc".into()).to_f64(), None);
    }
}
