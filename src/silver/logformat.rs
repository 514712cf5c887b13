//! nginx `log_format` strings compiled into a fast line matcher (SILVER-NGINX-1).
//!
//! A format is a sequence of literals and `$variables`. A line matches when
//! every literal is found in order and every typed variable has its shape
//! (`$status` three digits, `$request_time` seconds with three decimals…); a
//! variable takes the bytes up to the next literal, or the end of the line for
//! the last one. Like a backtracking regex, the matcher tries the leftmost
//! split first and, when the rest of the line does not match, the next
//! occurrence of the literal: with `escape=none` a user agent may hold `" `
//! (`"Mozilla/5.0 "KiVendTout embed" (Linux)"`), and the fields after it
//! decide where it ends. No regex engine: the first split is nearly always
//! right, and the matcher runs at several hundred MB/s, which the 1 M lines/s
//! goal needs. A [`LogFormat`] may hold several layouts, tried in order on
//! each line (the default: the `kvt` layout, then plain `combined`).

use memchr::memmem;

/// The default `kvt` format of the web servers (CONTRACTS C5).
pub const KVT_FORMAT: &str = r#"$remote_addr - $kvt_customer [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

/// nginx's predefined `combined` format.
pub const COMBINED_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// The fields kvt knows how to type; any other variable is matched and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    RemoteAddr,
    Customer,
    TimeLocal,
    Request,
    Status,
    BodyBytesSent,
    Referer,
    UserAgent,
    RequestTime,
    Other,
}

impl Field {
    /// Could `v` be a value of this field? (What nginx writes; anything else
    /// means the split is wrong or the line is cut.)
    fn plausible(self, v: &[u8]) -> bool {
        let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
        match self {
            Field::Status => v.len() == 3 && digits(v),
            Field::BodyBytesSent => digits(v),
            // Seconds with millisecond resolution, always three decimals.
            Field::RequestTime => match v.iter().position(|&c| c == b'.') {
                Some(i) => digits(&v[..i]) && v.len() - i - 1 == 3 && digits(&v[i + 1..]),
                None => false,
            },
            Field::TimeLocal => v.len() == 26,
            // (A space cannot occur: in the kvt and combined layouts the next
            // literal starts with one, and the leftmost split stops there.)
            Field::RemoteAddr | Field::Customer => !v.is_empty(),
            Field::Request | Field::Referer | Field::UserAgent | Field::Other => true,
        }
    }

    /// What the field looks like, for a reject reason.
    fn shape(self) -> &'static str {
        match self {
            Field::Status => " (three digits)",
            Field::BodyBytesSent => " (digits)",
            Field::RequestTime => " (seconds with three decimals)",
            Field::TimeLocal => " (dd/Mon/yyyy:hh:mm:ss +zzzz)",
            Field::RemoteAddr | Field::Customer => " (not empty)",
            _ => "",
        }
    }

    fn of(var: &str) -> Field {
        match var {
            "remote_addr" | "http_x_forwarded_for" | "realip_remote_addr" => Field::RemoteAddr,
            "kvt_customer" | "customer_id" => Field::Customer,
            "time_local" => Field::TimeLocal,
            "request" => Field::Request,
            "status" => Field::Status,
            "body_bytes_sent" | "bytes_sent" => Field::BodyBytesSent,
            "http_referer" => Field::Referer,
            "http_user_agent" => Field::UserAgent,
            "request_time" => Field::RequestTime,
            _ => Field::Other,
        }
    }
}

#[derive(Debug, Clone)]
enum Token {
    Lit(Vec<u8>),
    Var(Field, String),
}

/// One compiled layout.
#[derive(Debug, Clone)]
struct Layout {
    tokens: Vec<Token>,
    finders: Vec<Option<memmem::Finder<'static>>>,
}

/// A compiled `log_format`: one layout or several, tried in order per line.
#[derive(Debug, Clone)]
pub struct LogFormat {
    layouts: Vec<Layout>,
    /// Some layout has `$kvt_customer` / `$request_time`.
    pub has_customer: bool,
    pub has_request_time: bool,
}

/// Alternatives a variable may try before the line is given up (bounds the
/// work on a hostile line: each `"` of a user agent is one alternative).
const BACKTRACK_BUDGET: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("log_format is empty")]
    Empty,
    #[error(
        "log_format has two variables with nothing between them (${0} ${1}): lines cannot be split"
    )]
    Adjacent(String, String),
    #[error("log_format lacks $time_local (needed for the log date)")]
    NoTime,
    #[error("log_format lacks $request")]
    NoRequest,
    #[error("log_format lacks $status")]
    NoStatus,
}

/// The known fields of one line (indexed by [`Field`]); `Other` is not kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'l> {
    v: [Option<&'l [u8]>; 9],
}

impl<'l> Fields<'l> {
    pub fn get(&self, f: Field) -> Option<&'l [u8]> {
        self.v.get(f as usize).copied().flatten()
    }
    pub fn count(&self) -> usize {
        self.v.iter().filter(|x| x.is_some()).count()
    }
}

/// Where a line failed to match, for the rejects output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field or literal that was expected.
    pub expected: String,
    /// Byte offset in the (NUL-cleaned) line.
    pub at: usize,
}

impl LogFormat {
    /// One layout.
    pub fn compile(format: &str) -> Result<LogFormat, FormatError> {
        LogFormat::compile_any(&[format])
    }

    /// Several layouts, tried in this order on each line.
    pub fn compile_any(formats: &[&str]) -> Result<LogFormat, FormatError> {
        let layouts = formats
            .iter()
            .map(|f| Layout::compile(f))
            .collect::<Result<Vec<_>, _>>()?;
        if layouts.is_empty() {
            return Err(FormatError::Empty);
        }
        let has = |f: Field| layouts.iter().any(|l| l.has(f));
        Ok(LogFormat {
            has_customer: has(Field::Customer),
            has_request_time: has(Field::RequestTime),
            layouts,
        })
    }

    /// Split a line into its known fields: the first layout that matches;
    /// otherwise the first layout's mismatch.
    pub fn split<'l>(&self, line: &'l [u8]) -> Result<Fields<'l>, Mismatch> {
        let mut first = None;
        for l in &self.layouts {
            match l.split(line) {
                Ok(f) => return Ok(f),
                Err(m) => {
                    first.get_or_insert(m);
                }
            }
        }
        Err(first.unwrap_or(Mismatch {
            expected: "a log_format".into(),
            at: 0,
        }))
    }
}

impl Layout {
    fn has(&self, f: Field) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Var(x, _) if *x == f))
    }

    fn compile(format: &str) -> Result<Layout, FormatError> {
        let b = format.as_bytes();
        let mut tokens = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                let braced = b.get(i + 1) == Some(&b'{');
                let start = if braced { i + 2 } else { i + 1 };
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > start {
                    if !lit.is_empty() {
                        tokens.push(Token::Lit(std::mem::take(&mut lit)));
                    }
                    let name = format[start..j].to_string();
                    if let Some(Token::Var(_, prev)) = tokens.last() {
                        return Err(FormatError::Adjacent(prev.clone(), name));
                    }
                    tokens.push(Token::Var(Field::of(&name), name));
                    i = if braced && b.get(j) == Some(&b'}') {
                        j + 1
                    } else {
                        j
                    };
                    continue;
                }
            }
            lit.push(b[i]);
            i += 1;
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(lit));
        }
        if tokens.is_empty() {
            return Err(FormatError::Empty);
        }
        let has = |f: Field| {
            tokens
                .iter()
                .any(|t| matches!(t, Token::Var(x, _) if *x == f))
        };
        if !has(Field::TimeLocal) {
            return Err(FormatError::NoTime);
        }
        if !has(Field::Request) {
            return Err(FormatError::NoRequest);
        }
        if !has(Field::Status) {
            return Err(FormatError::NoStatus);
        }
        let finders = tokens
            .iter()
            .map(|t| match t {
                Token::Lit(l) => Some(memmem::Finder::new(l).into_owned()),
                Token::Var(..) => None,
            })
            .collect();
        Ok(Layout { tokens, finders })
    }

    /// Split a line: the leftmost split whose every field is plausible and
    /// that consumes the whole line; the first mismatch met otherwise.
    fn split<'l>(&self, line: &'l [u8]) -> Result<Fields<'l>, Mismatch> {
        if let Some(f) = self.leftmost(line) {
            return Ok(f);
        }
        let mut m = Matching {
            line,
            out: Fields::default(),
            budget: BACKTRACK_BUDGET,
            first: None,
        };
        if self.go(&mut m, 0, 0) {
            Ok(m.out)
        } else {
            Err(m.first.unwrap_or(Mismatch {
                expected: "end of line".into(),
                at: line.len(),
            }))
        }
    }

    /// The fast path: every variable ends at the first occurrence of the
    /// next literal (nearly every line); `None` sends the line to [`Self::go`].
    fn leftmost<'l>(&self, line: &'l [u8]) -> Option<Fields<'l>> {
        let mut out = Fields::default();
        let mut pos = 0;
        for (k, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Lit(l) => {
                    if !line[pos..].starts_with(l) {
                        return None;
                    }
                    pos += l.len();
                }
                Token::Var(f, _) => {
                    let end = match self.finders.get(k + 1).and_then(Option::as_ref) {
                        Some(finder) => pos + finder.find(&line[pos..])?,
                        None => line.len(),
                    };
                    let v = &line[pos..end];
                    if !f.plausible(v) {
                        return None;
                    }
                    if *f != Field::Other {
                        out.v[*f as usize] = Some(v);
                    }
                    pos = end;
                }
            }
        }
        (pos == line.len()).then_some(out)
    }

    /// Match tokens `k..` from byte `pos`.
    fn go(&self, m: &mut Matching<'_>, k: usize, pos: usize) -> bool {
        let line = m.line;
        let Some(token) = self.tokens.get(k) else {
            if pos == line.len() {
                return true;
            }
            return m.fail("end of line".into(), pos);
        };
        match token {
            Token::Lit(l) => {
                if line[pos..].starts_with(l) {
                    self.go(m, k + 1, pos + l.len())
                } else {
                    m.fail(format!("`{}`", String::from_utf8_lossy(l)), pos)
                }
            }
            Token::Var(f, name) => {
                let Some(finder) = self.finders.get(k + 1).and_then(Option::as_ref) else {
                    // The last token: the rest of the line.
                    return self.take(m, *f, name, k, pos, line.len());
                };
                let mut found = false;
                for off in finder.find_iter(&line[pos..]) {
                    found = true;
                    if self.take(m, *f, name, k, pos, pos + off) {
                        return true;
                    }
                    if m.budget == 0 {
                        return false;
                    }
                    m.budget -= 1;
                }
                if !found {
                    m.fail(
                        format!(
                            "${name} then `{}`",
                            String::from_utf8_lossy(finder.needle())
                        ),
                        pos,
                    );
                }
                false
            }
        }
    }

    /// Variable `k` takes `pos..end` if plausible, then the rest must match.
    fn take(
        &self,
        m: &mut Matching<'_>,
        f: Field,
        name: &str,
        k: usize,
        pos: usize,
        end: usize,
    ) -> bool {
        let v = &m.line[pos..end];
        if !f.plausible(v) {
            return m.fail(format!("${name}{}", f.shape()), pos);
        }
        if f != Field::Other {
            m.out.v[f as usize] = Some(v);
        }
        self.go(m, k + 1, end)
    }
}

/// The state of matching one line.
struct Matching<'l> {
    line: &'l [u8],
    out: Fields<'l>,
    budget: u32,
    /// The first mismatch met (on the leftmost path: what a reader expects).
    first: Option<Mismatch>,
}

impl Matching<'_> {
    fn fail(&mut self, expected: String, at: usize) -> bool {
        self.first.get_or_insert(Mismatch { expected, at });
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"192.168.1.45 - CUST-000123 [17/Mar/2026:15:05:09 +0100] "GET /produit/PRD-00042?ref=home HTTP/1.1" 200 5123 "https://kivendtout.fr/" "Mozilla/5.0 (X11; Linux x86_64)" 0.012"#;

    #[test]
    fn kvt_format_splits_a_real_line() {
        let f = LogFormat::compile(KVT_FORMAT).unwrap();
        assert!(f.has_customer && f.has_request_time);
        let out = f.split(LINE).unwrap();
        let get = |x: Field| out.get(x).map(|v| std::str::from_utf8(v).unwrap());
        assert_eq!(get(Field::RemoteAddr), Some("192.168.1.45"));
        assert_eq!(get(Field::Customer), Some("CUST-000123"));
        assert_eq!(get(Field::TimeLocal), Some("17/Mar/2026:15:05:09 +0100"));
        assert_eq!(
            get(Field::Request),
            Some("GET /produit/PRD-00042?ref=home HTTP/1.1")
        );
        assert_eq!(
            get(Field::UserAgent),
            Some("Mozilla/5.0 (X11; Linux x86_64)")
        );
        assert_eq!(get(Field::RequestTime), Some("0.012"));
    }

    #[test]
    fn truncated_line_says_what_is_missing() {
        let f = LogFormat::compile(KVT_FORMAT).unwrap();
        let cut = &LINE[..LINE.len() - 30];
        let e = f.split(cut).unwrap_err();
        assert!(e.expected.contains("http_user_agent"), "{e:?}");
    }

    #[test]
    fn combined_format_and_custom_formats() {
        let f = LogFormat::compile(COMBINED_FORMAT).unwrap();
        assert!(!f.has_customer && !f.has_request_time);
        let line =
            br#"10.0.0.1 - - [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 304 0 "-" "curl/8.0""#;
        let out = f.split(line).unwrap();
        assert_eq!(out.count(), 7);
        let f =
            LogFormat::compile(r#"${remote_addr} [$time_local] "$request" $status $upstream_addr"#)
                .unwrap();
        let out = f
            .split(br#"::1 [17/Mar/2026:15:05:09 +0100] "GET / HTTP/1.1" 200 10.0.0.2:8080"#)
            .unwrap();
        assert_eq!(out.count(), 4, "unknown variables are matched and ignored");
    }

    #[test]
    fn invalid_formats() {
        assert_eq!(LogFormat::compile("").unwrap_err(), FormatError::Empty);
        assert!(matches!(
            LogFormat::compile("$remote_addr$time_local \"$request\" $status").unwrap_err(),
            FormatError::Adjacent(..)
        ));
        assert_eq!(
            LogFormat::compile("$remote_addr \"$request\" $status").unwrap_err(),
            FormatError::NoTime
        );
    }
}
