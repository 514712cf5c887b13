//! Identifier pattern rules: which rows are bots or test sessions
//! (SILVER-FB-4, OQ-14). Pure: a rule list, compiled once, asked per row.
//!
//! A rule names a field and one matcher: `prefix`, `suffix`, `equals`,
//! `contains` (all ASCII case-insensitive, on the trimmed value) or `regex`
//! (the `regex` crate's syntax, as written: add `(?i)` for case-insensitive).
//! The first rule that matches names the reason a row was filtered; the run
//! summary counts rows per rule.

use regex::Regex;
use serde::Deserialize;

/// One rule as written in `kvt.toml` (`[[silver.firebase.bot_patterns]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// Name in the run summary (default: `<field> <matcher> <value>`).
    pub name: Option<String>,
    pub field: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub equals: Option<String>,
    pub contains: Option<String>,
    pub regex: Option<String>,
}

#[derive(Debug, Clone)]
enum Matcher {
    Prefix(String),
    Suffix(String),
    Equals(String),
    Contains(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, v: &str) -> bool {
        let b = v.as_bytes();
        match self {
            Matcher::Prefix(p) => {
                b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            }
            Matcher::Suffix(p) => {
                b.len() >= p.len() && b[b.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
            }
            Matcher::Equals(p) => v.eq_ignore_ascii_case(p),
            Matcher::Contains(p) => {
                p.is_empty()
                    || b.windows(p.len())
                        .any(|w| w.eq_ignore_ascii_case(p.as_bytes()))
            }
            Matcher::Regex(r) => r.is_match(v),
        }
    }
}

/// A compiled rule: the index of its field in the caller's field list.
#[derive(Debug, Clone)]
struct Rule {
    name: String,
    field: usize,
    matcher: Matcher,
}

/// A compiled rule list over a fixed set of fields.
#[derive(Debug, Clone)]
pub struct Patterns {
    rules: Vec<Rule>,
    /// Fields some rule looks at (callers skip extracting the others).
    used: Vec<bool>,
}

impl Patterns {
    /// Compile `rules` over `fields` (the names a rule may use).
    pub fn compile(rules: &[PatternConfig], fields: &[&str]) -> Result<Patterns, String> {
        let mut out = Vec::with_capacity(rules.len());
        let mut used = vec![false; fields.len()];
        for (i, r) in rules.iter().enumerate() {
            let at = || format!("bot_patterns[{i}]");
            let field = fields.iter().position(|f| *f == r.field).ok_or_else(|| {
                format!(
                    "{}: unknown field `{}` (one of: {})",
                    at(),
                    r.field,
                    fields.join(", ")
                )
            })?;
            let given: Vec<(&str, &String)> = [
                ("prefix", &r.prefix),
                ("suffix", &r.suffix),
                ("equals", &r.equals),
                ("contains", &r.contains),
                ("regex", &r.regex),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
            let [(kind, value)] = given.as_slice() else {
                return Err(format!(
                    "{}: give exactly one of prefix, suffix, equals, contains, regex",
                    at()
                ));
            };
            if value.is_empty() {
                return Err(format!("{}: empty {kind}", at()));
            }
            let matcher = match *kind {
                "prefix" => Matcher::Prefix((*value).clone()),
                "suffix" => Matcher::Suffix((*value).clone()),
                "equals" => Matcher::Equals((*value).clone()),
                "contains" => Matcher::Contains((*value).clone()),
                _ => Matcher::Regex(
                    Regex::new(value).map_err(|e| format!("{}: invalid regex: {e}", at()))?,
                ),
            };
            used[field] = true;
            out.push(Rule {
                name: r
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{} {kind} {value}", r.field)),
                field,
                matcher,
            });
        }
        Ok(Patterns { rules: out, used })
    }

    /// Does some rule look at field `i`?
    pub fn uses(&self, i: usize) -> bool {
        self.used.get(i).copied().unwrap_or(false)
    }

    /// The first rule matching the row (`value(i)` = field `i`, trimmed by
    /// this function), by its index.
    pub fn first_match<'v>(&self, value: impl Fn(usize) -> Option<&'v str>) -> Option<usize> {
        self.rules.iter().position(|r| {
            value(r.field)
                .map(str::trim)
                .is_some_and(|v| r.matcher.matches(v))
        })
    }

    /// Rule names, by index.
    pub fn names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Shorthand for the built-in rule lists.
pub fn rule(field: &str, kind: &str, value: &str) -> PatternConfig {
    let v = Some(value.to_string());
    let mut p = PatternConfig {
        name: None,
        field: field.into(),
        prefix: None,
        suffix: None,
        equals: None,
        contains: None,
        regex: None,
    };
    match kind {
        "prefix" => p.prefix = v,
        "suffix" => p.suffix = v,
        "equals" => p.equals = v,
        "contains" => p.contains = v,
        _ => p.regex = v,
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 2] = ["device_id", "user_id"];

    #[test]
    fn matchers_are_case_insensitive_on_trimmed_values() {
        let p = Patterns::compile(
            &[
                rule("device_id", "prefix", "bot-"),
                rule("user_id", "suffix", "-qa"),
                rule("user_id", "regex", "^0+$"),
                rule("device_id", "contains", "crawl"),
                rule("user_id", "equals", "tester"),
            ],
            &FIELDS,
        )
        .unwrap();
        let row =
            |d: &'static str, u: &'static str| move |i: usize| Some(if i == 0 { d } else { u });
        assert_eq!(p.first_match(row(" BOT-12", "x")), Some(0));
        assert_eq!(p.first_match(row("a", "JOHN-QA ")), Some(1));
        assert_eq!(p.first_match(row("a", "0000")), Some(2));
        assert_eq!(p.first_match(row("xCrAwLy", "u")), Some(3));
        assert_eq!(p.first_match(row("a", "TESTER")), Some(4));
        assert_eq!(p.first_match(row("robot-1", "u")), None);
        assert_eq!(p.first_match(|_| None), None);
        assert_eq!(p.names()[0], "device_id prefix bot-");
        assert!(p.uses(0) && p.uses(1));
    }

    #[test]
    fn bad_rules_are_refused_with_their_index() {
        let mut two = rule("device_id", "prefix", "a");
        two.suffix = Some("b".into());
        for (r, want) in [
            (rule("imei", "prefix", "a"), "unknown field `imei`"),
            (two, "exactly one"),
            (rule("user_id", "regex", "("), "invalid regex"),
            (rule("user_id", "prefix", ""), "empty prefix"),
        ] {
            let e = Patterns::compile(&[rule("user_id", "prefix", "x"), r], &FIELDS).unwrap_err();
            assert!(e.contains("bot_patterns[1]") && e.contains(want), "{e}");
        }
    }
}
