//! Parsing of the textual values batch sources hand us: dates in several
//! layouts, booleans in several languages, decimals with `,` or `.`, integers,
//! labels to canonicalise — plus French business days (CONTRACTS C7).
//!
//! Every function is pure, total (never panics, `None` for what it cannot
//! read) and allocation-free except where it returns a `String`. A value is
//! read from its *shape*, never from a per-source configuration: a carrier
//! that switches from `18/03/2026` to `2026-03-18` needs no change.
//!
//! Dates: a four-digit year first (`2026-03-18`, `2026/03/18`) is year–month–day,
//! a four-digit year last (`18/03/2026`, `18-03-2026`, `18.03.2026`) is
//! day–month–year. Month-first layouts (`03/18/2026`) are never accepted: in a
//! French context they cannot be told from day-first ones. The one other order,
//! year–day–month (KYC-A4's faulty export tool), is only read when the caller
//! asks for it ([`DateOrder::Ydm`]).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};

use crate::calendar;

/// The order of the three parts of a date written with separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// `2026-03-18`
    Ymd,
    /// `2026-18-03` (KYC-A4's inverted layout)
    Ydm,
    /// `18/03/2026`
    Dmy,
}

/// Strings that mean "no value" in every source: empty, `NULL`, `N/A`, `-`
/// (any case, surrounding spaces ignored).
pub fn is_null_token(s: &str) -> bool {
    if s.len() > 4 && !s.starts_with(char::is_whitespace) && !s.ends_with(char::is_whitespace) {
        return false;
    }
    let t = s.trim();
    t.is_empty()
        || t == "-"
        || t.eq_ignore_ascii_case("null")
        || t.eq_ignore_ascii_case("n/a")
        || t.eq_ignore_ascii_case("none")
}

/// Leading ASCII digits of `b` as a number, and how many there were (≤ 9).
fn digits(b: &[u8]) -> (u32, usize) {
    let mut n = 0u32;
    let mut i = 0;
    while i < b.len() && i < 9 && b[i].is_ascii_digit() {
        n = n * 10 + u32::from(b[i] - b'0');
        i += 1;
    }
    (n, i)
}

/// The three numbers of a date prefix, its separator, their digit counts and
/// the rest of the string.
struct Parts<'a> {
    n: [u32; 3],
    len: [usize; 3],
    rest: &'a [u8],
}

fn split_date(s: &[u8]) -> Option<Parts<'_>> {
    let (a, la) = digits(s);
    if la == 0 {
        return None;
    }
    let sep = *s.get(la)?;
    if !matches!(sep, b'-' | b'/' | b'.') {
        return None;
    }
    let s2 = &s[la + 1..];
    let (b, lb) = digits(s2);
    if lb == 0 || s2.get(lb) != Some(&sep) {
        return None;
    }
    let s3 = &s2[lb + 1..];
    let (c, lc) = digits(s3);
    if lc == 0 {
        return None;
    }
    Some(Parts {
        n: [a, b, c],
        len: [la, lb, lc],
        rest: &s3[lc..],
    })
}

/// `HH:MM[:SS[.fff…]]` then an optional `Z` or `±HH[:]MM`: (seconds of the
/// day, milliseconds, offset east of UTC in minutes).
fn parse_time(b: &[u8]) -> Option<(u32, u32, i32)> {
    let (h, lh) = digits(b);
    if lh == 0 || lh > 2 || b.get(lh) != Some(&b':') {
        return None;
    }
    let b = &b[lh + 1..];
    let (m, lm) = digits(b);
    if lm != 2 {
        return None;
    }
    let mut b = &b[2..];
    let mut s = 0;
    let mut ms = 0;
    if b.first() == Some(&b':') {
        let (sec, ls) = digits(&b[1..]);
        if ls != 2 {
            return None;
        }
        s = sec;
        b = &b[3..];
        if matches!(b.first(), Some(b'.') | Some(b',')) {
            let frac = &b[1..];
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut scale = 100;
            for &c in frac.iter().take(n.min(3)) {
                ms += u32::from(c - b'0') * scale;
                scale /= 10;
            }
            b = &frac[n..];
        }
    }
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let offset = match b {
        [] => 0,
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hh, mm) = match rest {
                [a, b2, b':', c, d] | [a, b2, c, d] => ([*a, *b2], [*c, *d]),
                [a, b2] => ([*a, *b2], [b'0', b'0']),
                _ => return None,
            };
            let (oh, l1) = digits(&hh);
            let (om, l2) = digits(&mm);
            if l1 != 2 || l2 != 2 || oh > 23 || om > 59 {
                return None;
            }
            let v = (oh * 60 + om) as i32;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    Some((h * 3600 + m * 60 + s.min(59), ms, offset))
}

/// A date prefix in the given order, and what follows it.
fn date_prefix(s: &[u8], order: DateOrder) -> Option<(NaiveDate, &[u8])> {
    let p = split_date(s)?;
    let (y, m, d) = match order {
        DateOrder::Ymd if p.len[0] == 4 && p.len[1] <= 2 && p.len[2] <= 2 => {
            (p.n[0], p.n[1], p.n[2])
        }
        DateOrder::Ydm if p.len[0] == 4 && p.len[1] <= 2 && p.len[2] <= 2 => {
            (p.n[0], p.n[2], p.n[1])
        }
        DateOrder::Dmy if p.len[2] == 4 && p.len[0] <= 2 && p.len[1] <= 2 => {
            (p.n[2], p.n[1], p.n[0])
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(y as i32, m, d)?;
    Some((date, p.rest))
}

/// What may follow a date: nothing, or `T`/space and a time.
fn time_suffix(rest: &[u8]) -> Option<(u32, u32, i32)> {
    match rest {
        [] => Some((0, 0, 0)),
        [b'T' | b't' | b' ', time @ ..] => parse_time(time),
        _ => None,
    }
}

/// A date written in `order`, possibly followed by a time (ignored).
/// `parse_date_as("2026-18-03", DateOrder::Ydm)` is 18 March 2026.
pub fn parse_date_as(s: &str, order: DateOrder) -> Option<NaiveDate> {
    let (d, rest) = date_prefix(s.trim().as_bytes(), order)?;
    time_suffix(rest)?;
    Some(d)
}

/// Year first when the string starts with four digits.
fn year_first(b: &[u8]) -> DateOrder {
    if digits(b).1 == 4 {
        DateOrder::Ymd
    } else {
        DateOrder::Dmy
    }
}

/// A date whose layout is told by where its four-digit year is: ISO
/// `YYYY-MM-DD` (or `/`, `.`), or day-first `DD/MM/YYYY` (or `-`, `.`),
/// optionally followed by a time, which is ignored (`2026-03-18T14:05:00`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.trim().as_bytes();
    let order = year_first(b);
    let (d, rest) = date_prefix(b, order)?;
    time_suffix(rest)?;
    Some(d)
}

/// A date and time as UTC milliseconds since the epoch: any [`parse_date`]
/// layout, then optionally `T` or a space and `HH:MM[:SS[.fff]]`, then
/// optionally `Z` or an offset (converted to UTC). No offset means UTC; a date
/// alone is midnight.
pub fn parse_timestamp_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let order = year_first(b);
    let (d, rest) = date_prefix(b, order)?;
    let (secs, ms, offset) = time_suffix(rest)?;
    let dt: NaiveDateTime = d.and_hms_opt(0, 0, 0)?;
    let utc = dt.and_utc().timestamp_millis() + i64::from(secs) * 1000 + i64::from(ms)
        - i64::from(offset) * 60_000;
    Some(utc)
}

/// `YYYY-MM` (or `YYYY/MM`) → the first day of that month.
pub fn parse_year_month(s: &str) -> Option<NaiveDate> {
    let b = s.trim().as_bytes();
    let (y, ly) = digits(b);
    if ly != 4 || !matches!(b.get(4), Some(b'-') | Some(b'/')) {
        return None;
    }
    let (m, lm) = digits(&b[5..]);
    if !(1..=2).contains(&lm) || b.len() != 5 + lm {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, 1)
}

/// The last day of `d`'s month.
pub fn month_end(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .map(|n| n - Duration::days(1))
        .unwrap_or(d)
}

/// `2026-03` of a date.
pub fn year_month(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// Age in whole years on `on` (birthdays count from the day itself); `None`
/// for a birth date after `on`.
pub fn age_years(birth: NaiveDate, on: NaiveDate) -> Option<i32> {
    on.years_since(birth).and_then(|y| i32::try_from(y).ok())
}

/// A boolean in the spellings found in French exports (any case, trimmed):
/// `true/false`, `vrai/faux`, `oui/non`, `o/n`, `yes/no`, `y/n`, `1/0`, `t/f`.
pub fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    const TRUE: [&str; 8] = ["true", "vrai", "oui", "o", "yes", "y", "1", "t"];
    const FALSE: [&str; 7] = ["false", "faux", "non", "n", "no", "0", "f"];
    if TRUE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| t.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A decimal written with `,` or `.` as decimal separator (`12,50`, `-3.5`),
/// optionally with digit-group separators: spaces (including no-break spaces)
/// or, when both `.` and `,` occur, the one that is not last (`1.234,56`,
/// `1,234.56`). The result is the double nearest to the written value.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    // The decimal separator is the last `,` or `.`; any other must be the
    // other character, as a group separator.
    let last_sep = body.rfind([',', '.']);
    let dec_char = last_sep.and_then(|i| body[i..].chars().next());
    let mut mantissa: u64 = 0;
    let mut scale: i32 = 0;
    let mut seen_digit = false;
    let mut after_point = false;
    for (i, c) in body.char_indices() {
        match c {
            '0'..='9' => {
                mantissa = mantissa
                    .checked_mul(10)?
                    .checked_add(u64::from(c as u8 - b'0'))?;
                if after_point {
                    scale += 1;
                }
                seen_digit = true;
            }
            ',' | '.' if Some(i) == last_sep => after_point = true,
            // The other separator, between digits of the integer part.
            ',' | '.' if Some(c) != dec_char && !after_point && seen_digit => {}
            ' ' | '\u{a0}' | '\u{202f}' if seen_digit && !after_point => {}
            _ => return None,
        }
    }
    if after_point && scale == 0 {
        return None;
    }
    if !seen_digit || scale > 18 {
        return None;
    }
    let v = mantissa as f64 / 10f64.powi(scale);
    Some(if neg { -v } else { v })
}

/// An integer, also written as a decimal with a zero fraction (`12`, `-3`,
/// `12,0`, `12.00`).
pub fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let b = t.as_bytes();
    let (neg, body) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let int_len = body.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || int_len > 18 {
        return None;
    }
    let frac = &body[int_len..];
    let zero_frac = match frac {
        [] => true,
        [b',' | b'.', rest @ ..] => !rest.is_empty() && rest.iter().all(|&c| c == b'0'),
        _ => false,
    };
    if !zero_frac {
        return None;
    }
    let mut n: i64 = 0;
    for &c in &body[..int_len] {
        n = n * 10 + i64::from(c - b'0');
    }
    Some(if neg { -n } else { n })
}

/// Unicode-aware lower case, trimmed, inner runs of white space collapsed to
/// one space: `" En  TRANSIT "` → `"en transit"`, `"LIVRÉ"` → `"livré"`.
pub fn normalize_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The base letter(s) of a lower-case accented Latin letter; `""` for a
/// combining mark (so decomposed `é` folds like precomposed `é`).
fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'š' | 'ś' => "s",
        'ž' | 'ź' | 'ż' => "z",
        'ł' => "l",
        'ř' => "r",
        'œ' => "oe",
        'æ' => "ae",
        'ß' => "ss",
        '\u{300}'..='\u{36f}' => "",
        _ => return None,
    })
}

/// A matching key for a label: lower case, accents removed, and every run of
/// white space or `_ - / . ' ’` turned into one space, trimmed. `"Royaume-Uni"`,
/// `" royaume uni "` and `"ROYAUME_UNI"` all give `"royaume uni"`;
/// `"EN ATTENTE"` and `"en_attente"` give `"en attente"`.
pub fn fold_key(s: &str, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '_' | '-' | '/' | '.' | '\'' | '’') {
            pending_space = !out.is_empty();
            continue;
        }
        for l in c.to_lowercase() {
            let folded = fold_char(l);
            if folded == Some("") {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            match folded {
                Some(f) => out.push_str(f),
                None => out.push(l),
            }
        }
    }
}

/// [`fold_key`] into a new string.
pub fn folded(s: &str) -> String {
    let mut out = String::new();
    fold_key(s, &mut out);
    out
}

/// Years whose holidays are computed once.
const CACHED_YEARS: std::ops::Range<i32> = 1900..2200;

static HOLIDAYS: std::sync::LazyLock<Vec<[Option<NaiveDate>; 11]>> =
    std::sync::LazyLock::new(|| CACHED_YEARS.map(compute_holidays).collect());

/// The eleven French public holidays of `year` (C7), unsorted.
fn holidays(year: i32) -> [Option<NaiveDate>; 11] {
    if CACHED_YEARS.contains(&year) {
        if let Some(h) = HOLIDAYS.get((year - CACHED_YEARS.start) as usize) {
            return *h;
        }
    }
    compute_holidays(year)
}

fn compute_holidays(year: i32) -> [Option<NaiveDate>; 11] {
    let easter = calendar::easter_sunday(year);
    let f = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    [
        f(1, 1),
        f(5, 1),
        f(5, 8),
        f(7, 14),
        f(8, 15),
        f(11, 1),
        f(11, 11),
        f(12, 25),
        Some(easter + Duration::days(1)),
        Some(easter + Duration::days(39)),
        Some(easter + Duration::days(50)),
    ]
}

/// Monday–Friday days from a fixed Monday up to and including `d`.
fn weekdays_through(d: NaiveDate) -> i64 {
    // 1970-01-05 was a Monday.
    let n = i64::from(super::epoch_days(d)) - 4;
    n.div_euclid(7) * 5 + (n.rem_euclid(7) + 1).min(5)
}

/// French business days (C7: Monday–Friday minus French public holidays)
/// `d` with `start < d <= end`; negative when `end < start`. Same rule as
/// [`calendar::business_days_between`], in time proportional to the number of
/// years spanned rather than days.
pub fn business_days(start: NaiveDate, end: NaiveDate) -> i64 {
    if end < start {
        return -business_days(end, start);
    }
    let mut n = weekdays_through(end) - weekdays_through(start);
    for y in start.year()..=end.year() {
        for h in holidays(y).into_iter().flatten() {
            if h > start && h <= end && !matches!(h.weekday(), Weekday::Sat | Weekday::Sun) {
                n -= 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn dates_in_every_layout() {
        for s in [
            "2026-03-18",
            " 2026-03-18 ",
            "2026/03/18",
            "2026.3.18",
            "18/03/2026",
            "18-03-2026",
            "18.03.2026",
            "18/3/2026",
            "2026-03-18T14:05:00",
            "2026-03-18 14:05:09",
            "2026-03-18T14:05:09.123Z",
            "18/03/2026 14:05",
        ] {
            assert_eq!(parse_date(s), Some(d(2026, 3, 18)), "{s}");
        }
        for s in [
            "",
            "2026-13-01",
            "2026-02-30",
            "03/18/2026",
            "26-03-18",
            "2026-03",
            "2026-03-18x",
            "2026-03/18",
            "2026-03-18T25:00",
            "le 18 mars",
            "9999999999-01-01",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(parse_date("9999-12-31"), Some(d(9999, 12, 31)));
        assert_eq!(parse_date("2028-02-29"), Some(d(2028, 2, 29)));
    }

    #[test]
    fn inverted_year_day_month() {
        assert_eq!(
            parse_date_as("2026-18-03", DateOrder::Ydm),
            Some(d(2026, 3, 18))
        );
        assert_eq!(parse_date_as("2026-18-03", DateOrder::Ymd), None);
        // Both readings valid: the caller decides (see kyc).
        assert_eq!(
            parse_date_as("2026-02-03", DateOrder::Ydm),
            Some(d(2026, 3, 2))
        );
        assert_eq!(
            parse_date_as("2026-02-03", DateOrder::Ymd),
            Some(d(2026, 2, 3))
        );
        assert_eq!(parse_date_as("18/03/2026", DateOrder::Ydm), None);
        assert_eq!(
            parse_date_as("18/03/2026", DateOrder::Dmy),
            Some(d(2026, 3, 18))
        );
    }

    #[test]
    fn timestamps() {
        let base = d(2026, 3, 18)
            .and_hms_opt(14, 5, 9)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(parse_timestamp_ms("2026-03-18 14:05:09"), Some(base));
        assert_eq!(parse_timestamp_ms("2026-03-18T14:05:09Z"), Some(base));
        assert_eq!(parse_timestamp_ms("2026-03-18T15:05:09+01:00"), Some(base));
        assert_eq!(parse_timestamp_ms("2026-03-18T13:05:09-0100"), Some(base));
        assert_eq!(
            parse_timestamp_ms("2026-03-18T14:05:09.250"),
            Some(base + 250)
        );
        assert_eq!(parse_timestamp_ms("18/03/2026 14:05:09"), Some(base));
        assert_eq!(
            parse_timestamp_ms("2026-03-18"),
            Some(base - (14 * 3600 + 5 * 60 + 9) * 1000)
        );
        assert_eq!(parse_timestamp_ms("2026-03-18 14h05"), None);
        assert_eq!(parse_timestamp_ms("2026-03-18T14:05:09+1"), None);
    }

    #[test]
    fn year_months_and_month_ends() {
        assert_eq!(parse_year_month("2026-03"), Some(d(2026, 3, 1)));
        assert_eq!(parse_year_month(" 2026/3 "), Some(d(2026, 3, 1)));
        assert_eq!(parse_year_month("2026-13"), None);
        assert_eq!(parse_year_month("2026-03-01"), None);
        assert_eq!(month_end(d(2026, 2, 10)), d(2026, 2, 28));
        assert_eq!(month_end(d(2028, 2, 1)), d(2028, 2, 29));
        assert_eq!(month_end(d(2026, 12, 31)), d(2026, 12, 31));
        assert_eq!(year_month(d(2026, 3, 18)), "2026-03");
    }

    #[test]
    fn ages() {
        assert_eq!(age_years(d(1977, 1, 26), d(2026, 3, 17)), Some(49));
        assert_eq!(age_years(d(1977, 3, 17), d(2026, 3, 17)), Some(49));
        assert_eq!(age_years(d(1977, 3, 18), d(2026, 3, 17)), Some(48));
        assert_eq!(age_years(d(2000, 2, 29), d(2026, 2, 28)), Some(25));
        assert_eq!(age_years(d(2027, 1, 1), d(2026, 3, 17)), None);
    }

    #[test]
    fn booleans() {
        for s in ["true", "TRUE", "Oui", "oui", "O", "1", " yes ", "Vrai", "y"] {
            assert_eq!(parse_bool(s), Some(true), "{s}");
        }
        for s in ["false", "Non", "non", "N", "0", "no", "FAUX"] {
            assert_eq!(parse_bool(s), Some(false), "{s}");
        }
        for s in ["", "peut-être", "2", "ouii"] {
            assert_eq!(parse_bool(s), None, "{s}");
        }
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12,50"), Some(12.5));
        assert_eq!(parse_decimal("12.50"), Some(12.5));
        assert_eq!(parse_decimal(" -3,05 "), Some(-3.05));
        assert_eq!(parse_decimal("+7"), Some(7.0));
        assert_eq!(parse_decimal("1 234,56"), Some(1234.56));
        assert_eq!(parse_decimal("1\u{a0}234,56"), Some(1234.56));
        assert_eq!(parse_decimal("1.234,56"), Some(1234.56));
        assert_eq!(parse_decimal("1,234.56"), Some(1234.56));
        assert_eq!(parse_decimal("0.1"), Some(0.1));
        assert_eq!(parse_decimal("957.00"), Some(957.0));
        assert_eq!(parse_decimal("-350.99"), Some(-350.99));
        for s in ["", "-", "1,2,3.4.5", "12,5€", "abc", "1..2", ",", "1,2.3,4"] {
            assert_eq!(parse_decimal(s), None, "{s}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int("10"), Some(10));
        assert_eq!(parse_int(" -3 "), Some(-3));
        assert_eq!(parse_int("12,00"), Some(12));
        assert_eq!(parse_int("300"), Some(300));
        for s in ["", "1,5", "x", "12,", "1e3", "9999999999999999999"] {
            assert_eq!(parse_int(s), None, "{s}");
        }
    }

    #[test]
    fn null_tokens() {
        for s in ["", "  ", "NULL", "null", "N/A", "n/a", "-", "None"] {
            assert!(is_null_token(s), "{s}");
        }
        for s in ["0", "NA-1", "Nul"] {
            assert!(!is_null_token(s), "{s}");
        }
    }

    #[test]
    fn labels() {
        for s in ["Livré", "livré", "LIVRÉ", " livré ", "Livre\u{301}"] {
            assert_eq!(folded(s), "livre", "{s}");
        }
        assert_eq!(normalize_label("LIVRÉ"), "livré");
        assert_eq!(normalize_label(" En  TRANSIT "), "en transit");
        assert_eq!(
            normalize_label("Échec\tde  livraison "),
            "échec de livraison"
        );
        assert_eq!(folded("Royaume-Uni"), "royaume uni");
        assert_eq!(folded(" royaume  uni "), "royaume uni");
        assert_eq!(folded("EN ATTENTE"), "en attente");
        assert_eq!(folded("en_attente"), "en attente");
        assert_eq!(folded("N/A"), "n a");
        assert_eq!(folded("Œuvre"), "oeuvre");
        assert_eq!(folded(""), "");
    }

    #[test]
    fn french_business_days_match_the_calendar() {
        // Easter Monday 2026 (6 April), Ascension (14 May), Whit Monday (25 May).
        assert_eq!(business_days(d(2026, 4, 3), d(2026, 4, 7)), 1);
        assert_eq!(business_days(d(2026, 5, 13), d(2026, 5, 15)), 1);
        assert_eq!(business_days(d(2026, 5, 22), d(2026, 5, 26)), 1);
        assert_eq!(business_days(d(2026, 3, 16), d(2026, 3, 16)), 0);
        assert_eq!(business_days(d(2026, 3, 16), d(2026, 3, 23)), 5);
        assert_eq!(business_days(d(2026, 3, 23), d(2026, 3, 16)), -5);
        // Friday → Monday is one business day; Saturday → Sunday none.
        assert_eq!(business_days(d(2026, 3, 20), d(2026, 3, 23)), 1);
        assert_eq!(business_days(d(2026, 3, 21), d(2026, 3, 22)), 0);
        // A holiday on a Saturday (15 August 2026) is not counted twice.
        assert_eq!(business_days(d(2026, 8, 14), d(2026, 8, 17)), 1);
        // Exhaustive check against the day-by-day reference over three years.
        let start = d(2025, 12, 20);
        for a in 0..400 {
            let s = start + Duration::days(a);
            for len in [0, 1, 2, 3, 5, 6, 9, 13, 30, 45, 370, 800] {
                let e = s + Duration::days(len);
                assert_eq!(
                    business_days(s, e),
                    calendar::business_days_between(s, e),
                    "{s} → {e}"
                );
            }
        }
        // Far dates stay cheap and consistent.
        assert!(business_days(d(1900, 1, 1), d(9999, 12, 31)) > 2_000_000);
    }

    /// Fuzz (issue 7): the value parsers never panic on any text, and a date
    /// they read is a real calendar date that reads back the same.
    #[test]
    fn fuzz_value_parsers_are_total() {
        let corpus: [&[u8]; 8] = [
            b"2026-03-18",
            b"18/03/2026 14:05:09",
            b"2026-03-18T15:05:09.250+01:00",
            b"2026-18-03",
            b"1 234,56",
            b"VRAI",
            b" N/A ",
            b"12,0",
        ];
        crate::fuzz::run("dates", 19, &corpus, |input| {
            let s = String::from_utf8_lossy(input);
            if let Some(d) = parse_date(&s) {
                assert_eq!(parse_date(&d.to_string()), Some(d));
            }
            let _ = parse_date_as(&s, DateOrder::Ydm);
            let _ = parse_timestamp_ms(&s);
            let _ = parse_year_month(&s);
            let _ = parse_decimal(&s);
            let _ = parse_int(&s);
            let _ = parse_bool(&s);
            let _ = is_null_token(&s);
            let _ = folded(&s);
        });
    }
}
