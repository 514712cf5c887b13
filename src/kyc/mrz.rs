//! Machine-readable zones per ICAO 9303 (KYC-4): TD1 (3 × 30), TD2
//! (2 × 36), TD3 (2 × 44) and the French national identity card of
//! 1988–2021 (2 × 36, its own layout, expiry not in the MRZ). Pure: lines
//! of OCR text in, the fields the age decision needs out, with **every**
//! check digit verified.
//!
//! OCR confuses look-alike characters (`O`/`0`, `I`/`1`, `S`/`5`, `B`/`8`,
//! `<` read as `K` or `L`…). A field is repaired according to its type
//! (digits in dates and check digits, letters in country codes) and a
//! repair is kept **only if the check digits then pass**; a birth date
//! whose check digit fails is never used.
//!
//! Minimisation (KYC-13): names are never parsed; the document number is
//! only kept inside [`Sensitive`], which never shows itself, to compute the
//! keyed fingerprint of C1.

use std::fmt;

/// The layouts kvt reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// 3 lines of 30: identity cards (most EU cards since 2021).
    Td1,
    /// 2 lines of 36: older cards, visas, residence permits.
    Td2,
    /// 2 lines of 44: passports.
    Td3,
    /// 2 lines of 36 starting `IDFRA`: the French card of 1988–2021.
    FrenchId,
}

impl Layout {
    pub fn shape(self) -> (usize, usize) {
        match self {
            Layout::Td1 => (3, 30),
            Layout::Td2 | Layout::FrenchId => (2, 36),
            Layout::Td3 => (2, 44),
        }
    }
}

/// A value that never prints itself (document numbers).
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(***)")
    }
}

/// A date as the MRZ writes it (YYMMDD), before the century is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yymmdd {
    pub yy: u32,
    pub mm: u32,
    pub dd: u32,
}

impl Yymmdd {
    fn parse(s: &str) -> Option<Yymmdd> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        Some(Yymmdd {
            yy: n(0..2)?,
            mm: n(2..4)?,
            dd: n(4..6)?,
        })
    }
}

/// Which check digits passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Checks {
    pub document: bool,
    pub birth: bool,
    /// `true` when the layout has no expiry in its MRZ (French card).
    pub expiry: bool,
    /// Optional-data check (TD3 personal number), `true` when absent.
    pub optional: bool,
    pub composite: bool,
}

impl Checks {
    pub fn all(&self) -> bool {
        self.document && self.birth && self.expiry && self.optional && self.composite
    }
}

/// What the decision needs from an MRZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mrz {
    pub layout: Layout,
    /// Document code: `P` passport, `I`/`ID` identity card, `A`/`C`
    /// residence permits and others (first two characters, fillers removed).
    pub doc_code: String,
    pub issuing_country: String,
    pub nationality: Option<String>,
    pub birth: Option<Yymmdd>,
    /// `None` for the French card (printed only).
    pub expiry: Option<Yymmdd>,
    pub sex: Option<char>,
    pub document_number: Sensitive,
    pub checks: Checks,
    /// Characters changed by the repair.
    pub repairs: usize,
}

impl Mrz {
    /// C1 `doc_fingerprint`: the keyed pseudonym (C6) of the issuing
    /// country and the document number, so FRAUD-KYC-1 tells documents
    /// apart without the number ever being stored.
    pub fn fingerprint(&self, p: &crate::silver::pseudo::Pseudonymizer) -> String {
        p.pseudo(&format!(
            "{}|{}",
            self.issuing_country,
            self.document_number.expose()
        ))
    }
}

/// The value of an MRZ character in check-digit arithmetic.
fn value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'<' => Some(0),
        _ => None,
    }
}

/// The ICAO 9303 check digit of `s` (weights 7, 3, 1); `None` when `s`
/// holds a character outside the MRZ alphabet.
pub fn check_digit(s: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in s.iter().enumerate() {
        sum += value(*c)? * [7, 3, 1][i % 3];
    }
    Some(b'0' + (sum % 10) as u8)
}

/// Does `digit` check `s`? A filler `<` counts as 0 (ICAO allows it for
/// an empty optional field).
fn checks(s: &[u8], digit: u8) -> bool {
    let d = if digit == b'<' { b'0' } else { digit };
    check_digit(s) == Some(d)
}

/// Cleans one OCR line: upper case, spaces and foreign characters out,
/// the usual renderings of the filler (`«`, `‹`) back to `<`.
pub fn normalise_line(line: &str) -> String {
    line.chars()
        .filter_map(|c| match c {
            '«' | '‹' | '〈' | '＜' => Some('<'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_uppercase()),
            '<' => Some('<'),
            _ => None,
        })
        .collect()
}

/// Look-alikes a digit position may have been read as.
fn as_digit(c: u8) -> u8 {
    match c {
        b'O' | b'Q' | b'D' | b'U' => b'0',
        b'I' | b'L' | b'T' | b'J' => b'1',
        b'Z' => b'2',
        b'S' => b'5',
        b'G' => b'6',
        b'B' => b'8',
        b'A' => b'4',
        c => c,
    }
}

/// Look-alikes a letter position may have been read as.
fn as_letter(c: u8) -> u8 {
    match c {
        b'0' => b'O',
        b'1' => b'I',
        b'2' => b'Z',
        b'5' => b'S',
        b'6' => b'G',
        b'8' => b'B',
        b'4' => b'A',
        c => c,
    }
}

/// Repairs a field with `map` (look-alikes of its type); counts the changes.
fn repaired(field: &[u8], map: fn(u8) -> u8, repairs: &mut usize) -> Vec<u8> {
    field
        .iter()
        .map(|c| {
            let r = map(*c);
            *repairs += usize::from(r != *c);
            r
        })
        .collect()
}

/// A field of digits (dates, check digits).
fn digits(field: &[u8], repairs: &mut usize) -> Vec<u8> {
    repaired(field, as_digit, repairs)
}

/// A field of letters or fillers (country codes, sex).
fn letters(field: &[u8], repairs: &mut usize) -> Vec<u8> {
    repaired(field, as_letter, repairs)
}

/// Fillers at the end of a field, which OCR often reads as `K`, `L` or `C`:
/// trailing runs of them are fillers when the field's check digit then
/// passes. Returns the candidates to try, the unchanged field first.
fn filler_variants(field: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![field.to_vec()];
    let mut v = field.to_vec();
    for i in (0..v.len()).rev() {
        match v[i] {
            b'<' => continue,
            b'K' | b'L' | b'C' | b'X' => {
                v[i] = b'<';
                out.push(v.clone());
            }
            _ => break,
        }
    }
    out
}

/// An alphanumeric field (document number, optional data) checked by
/// `digit`: as read, else the candidate with the fewest look-alike
/// substitutions (one, then two) and trailing fillers restored that makes
/// the check digit pass. Never more than two substitutions: with more, a
/// check digit (one chance in ten) would pass by accident too often.
fn alnum_checked(field: &[u8], digit: u8, repairs: &mut usize) -> (Vec<u8>, bool) {
    let accept = |v: Vec<u8>, repairs: &mut usize| {
        *repairs += field.iter().zip(&v).filter(|(a, b)| a != b).count();
        (v, true)
    };
    let bases = filler_variants(field);
    for base in &bases {
        if checks(base, digit) {
            return accept(base.clone(), repairs);
        }
    }
    // One substitution anywhere, before any pair.
    for base in &bases {
        for (i, &c) in base.iter().enumerate() {
            for &alt in alternatives(c) {
                let mut v = base.clone();
                v[i] = alt;
                if checks(&v, digit) {
                    return accept(v, repairs);
                }
            }
        }
    }
    for base in &bases {
        for i in 0..base.len() {
            for &a in alternatives(base[i]) {
                for j in i + 1..base.len() {
                    for &b in alternatives(base[j]) {
                        let mut v = base.clone();
                        v[i] = a;
                        v[j] = b;
                        if checks(&v, digit) {
                            return accept(v, repairs);
                        }
                    }
                }
            }
        }
    }
    (field.to_vec(), false)
}

/// What OCR may have read instead of each character of an alphanumeric
/// field (digit/letter look-alikes, then letter/letter ones seen with OCR-B).
fn alternatives(c: u8) -> &'static [u8] {
    match c {
        b'O' => b"0DQ",
        b'0' => b"ODQ",
        b'Q' => b"0O",
        b'D' => b"0O",
        b'U' => b"0V",
        b'I' => b"1JLT",
        b'1' => b"IJLT",
        b'J' => b"I1",
        b'L' => b"1I",
        b'T' => b"1I",
        b'Z' => b"2",
        b'2' => b"Z",
        b'S' => b"5",
        b'5' => b"S",
        b'G' => b"6C",
        b'6' => b"G",
        b'B' => b"8",
        b'8' => b"B",
        b'A' => b"4",
        b'4' => b"A",
        b'E' => b"F",
        b'F' => b"E",
        b'M' => b"NH",
        b'N' => b"MH",
        b'H' => b"NM",
        b'V' => b"UY",
        b'K' => b"X<",
        b'X' => b"K",
        _ => b"",
    }
}

/// A name field as read, then with its trailing run of filler look-alikes
/// (`<` read as `K`, `C`, `X`, `L`, `E`, `6`…) turned into fillers, the
/// longest run first, then shorter ones.
fn name_fillers(field: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![field.to_vec()];
    let run = field
        .iter()
        .rev()
        .take_while(|c| b"<KCXLE6GS".contains(c))
        .count();
    for k in (1..=run).rev() {
        let mut v = field.to_vec();
        let from = field.len() - k;
        if v[from..].iter().all(|&c| c == b'<') {
            continue;
        }
        v[from..].fill(b'<');
        out.push(v);
    }
    out
}

/// A date field passes only when it is six digits and its check digit
/// passes (a stray letter could satisfy the arithmetic by chance).
fn date_checks(date: &[u8], digit: u8) -> bool {
    date.iter().all(u8::is_ascii_digit) && checks(date, digit)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches('<')
        .replace('<', "")
}

/// A document number followed by its check digit: the number as repaired,
/// the check digit, and whether it passes.
fn document(field: &[u8], repairs: &mut usize) -> (Vec<u8>, u8, bool) {
    let (number, check) = field.split_at(field.len() - 1);
    let check = digits(check, repairs)[0];
    let (number, ok) = alnum_checked(number, check, repairs);
    (number, check, ok)
}

/// The 15 characters TD1, TD2 and TD3 share: birth date, its check digit,
/// sex, expiry date, its check digit.
struct Dates {
    birth: Vec<u8>,
    birth_check: u8,
    sex: u8,
    expiry: Vec<u8>,
    expiry_check: u8,
}

impl Dates {
    fn read(f: &[u8], repairs: &mut usize) -> Dates {
        Dates {
            birth: digits(&f[0..6], repairs),
            birth_check: digits(&f[6..7], repairs)[0],
            sex: letters(&f[7..8], repairs)[0],
            expiry: digits(&f[8..14], repairs),
            expiry_check: digits(&f[14..15], repairs)[0],
        }
    }

    fn birth_ok(&self) -> bool {
        date_checks(&self.birth, self.birth_check)
    }

    fn expiry_ok(&self) -> bool {
        date_checks(&self.expiry, self.expiry_check)
    }

    /// The dates and their check digits, as the composite check reads them.
    fn extend_composite(&self, composite: &mut Vec<u8>) {
        composite.extend(&self.birth);
        composite.push(self.birth_check);
        composite.extend(&self.expiry);
        composite.push(self.expiry_check);
    }
}

/// Finds the MRZ among OCR lines (other text around it is ignored) and
/// parses it. `None` when no line set has an MRZ's shape.
pub fn find(lines: &[&str]) -> Option<Mrz> {
    let clean: Vec<String> = lines
        .iter()
        .map(|l| normalise_line(l))
        .filter(|l| l.len() >= 28)
        .collect();
    // Longest layouts first; consecutive lines of the right length (one
    // character of tolerance: a dropped or doubled filler is common).
    for layout in [Layout::Td3, Layout::Td2, Layout::FrenchId, Layout::Td1] {
        let (rows, width) = layout.shape();
        for start in 0..clean.len() {
            let Some(window) = clean.get(start..start + rows) else {
                break;
            };
            let fits = window
                .iter()
                .enumerate()
                .all(|(row, l)| l.len().abs_diff(width) <= name_row_tolerance(layout, row));
            if fits {
                let fitted: Vec<Vec<u8>> = window.iter().map(|l| fit(l, width)).collect();
                let is_french = is_french_card(&fitted[0]);
                if (layout == Layout::FrenchId) != is_french && rows == 2 && width == 36 {
                    continue;
                }
                if let Some(m) = parse(layout, &fitted) {
                    return Some(m);
                }
            }
        }
    }
    None
}

/// The French card's line 1 starts `IDFRA` (read with look-alikes:
/// `1DFRA`, `I0FRA`, `LDFRA`…).
fn is_french_card(l1: &[u8]) -> bool {
    l1.len() >= 5
        && b"I1L|".contains(&l1[0])
        && b"DO0".contains(&l1[1])
        && b"FE".contains(&l1[2])
        && b"RK".contains(&l1[3])
        && b"A4".contains(&l1[4])
}

/// How far a row's length may be from the layout's width. Rows that only
/// hold names (TD3 and TD2 line 1 beyond the first five characters, TD1
/// line 3) are outside every check digit and never parsed, and OCR reads
/// their long runs of fillers with extra characters: they get a wide
/// tolerance. Checked rows get one character (a dropped or doubled filler).
fn name_row_tolerance(layout: Layout, row: usize) -> usize {
    match (layout, row) {
        (Layout::Td3 | Layout::Td2, 0) | (Layout::Td1, 2) => 8,
        (Layout::FrenchId, row) => name_row_tolerance_french(row),
        _ => 1,
    }
}

/// A line brought to `width`: characters added to or removed from its
/// longest run of fillers (as read: `<` and its look-alikes), so that the
/// fields after it, check digits included, keep their positions; at the
/// end when it has no such run.
fn fit(line: &str, width: usize) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    if b.len() == width {
        return b;
    }
    // The longest run of filler-like characters that contains a real `<`.
    let (mut best, mut i) = (None::<(usize, usize)>, 0);
    while i < b.len() {
        if b"<KC".contains(&b[i]) {
            let start = i;
            while i < b.len() && b"<KC".contains(&b[i]) {
                i += 1;
            }
            let has_filler = b[start..i].contains(&b'<');
            if has_filler && best.is_none_or(|(s, e)| i - start > e - s) {
                best = Some((start, i));
            }
        } else {
            i += 1;
        }
    }
    match best {
        Some((s, e)) if b.len() > width => {
            let extra = (b.len() - width).min(e - s);
            b.drain(e - extra..e);
        }
        Some((_, e)) => {
            let missing = width - b.len();
            b.splice(e..e, std::iter::repeat_n(b'<', missing));
        }
        None => {}
    }
    b.resize(width, b'<');
    b
}

fn name_row_tolerance_french(row: usize) -> usize {
    if row == 0 {
        8
    } else {
        1
    }
}

/// Parses lines already of the layout's shape.
pub fn parse(layout: Layout, lines: &[Vec<u8>]) -> Option<Mrz> {
    let (rows, width) = layout.shape();
    if lines.len() != rows || lines.iter().any(|l| l.len() != width) {
        return None;
    }
    let mut repairs = 0;
    let mut c = Checks {
        expiry: true,
        optional: true,
        ..Checks::default()
    };
    let l1 = &lines[0];
    let doc_code = text(&letters(&l1[0..2], &mut repairs));
    let issuing = text(&letters(&l1[2..5], &mut repairs));
    let (number, birth, expiry, sex, nationality);
    match layout {
        Layout::Td3 | Layout::Td2 => {
            let l2 = &lines[1];
            let (num, nc, ok) = document(&l2[0..10], &mut repairs);
            c.document = ok;
            let nat = letters(&l2[10..13], &mut repairs);
            let d = Dates::read(&l2[13..28], &mut repairs);
            (c.birth, c.expiry) = (d.birth_ok(), d.expiry_ok());
            let composite_at = width - 1;
            let optional = if layout == Layout::Td3 {
                let oc = if l2[42] == b'<' {
                    b'<'
                } else {
                    as_digit(l2[42])
                };
                let (mut opt, ok) = alnum_checked(&l2[28..42], oc, &mut repairs);
                c.optional = ok;
                opt.push(oc);
                opt
            } else {
                l2[28..composite_at].to_vec()
            };
            let cc = digits(&l2[composite_at..], &mut repairs)[0];
            c.composite = name_fillers(&optional).iter().any(|optional| {
                let mut composite = num.clone();
                composite.push(nc);
                d.extend_composite(&mut composite);
                composite.extend(optional);
                checks(&composite, cc)
            });
            number = num;
            (birth, expiry, sex) = (d.birth, Some(d.expiry), d.sex);
            nationality = Some(text(&nat));
        }
        Layout::Td1 => {
            let l2 = &lines[1];
            let (num, nc, ok) = document(&l1[5..15], &mut repairs);
            c.document = ok;
            let d = Dates::read(&l2[0..15], &mut repairs);
            (c.birth, c.expiry) = (d.birth_ok(), d.expiry_ok());
            let nat = letters(&l2[15..18], &mut repairs);
            // The optional fields are usually fillers, which OCR reads as letters.
            let composite_ok = |o1: &[u8], o2: &[u8], cc: u8| {
                let mut composite = num.clone();
                composite.push(nc);
                composite.extend(o1);
                d.extend_composite(&mut composite);
                composite.extend(o2);
                checks(&composite, cc)
            };
            let cc = digits(&l2[29..30], &mut repairs)[0];
            c.composite = name_fillers(&l1[15..30]).iter().any(|o1| {
                name_fillers(&l2[18..29])
                    .iter()
                    .any(|o2| composite_ok(o1, o2, cc))
            });
            number = num;
            (birth, expiry, sex) = (d.birth, Some(d.expiry), d.sex);
            nationality = Some(text(&nat));
        }
        Layout::FrenchId => {
            // Line 1: IDFRA, surname (25), issuing office (6).
            // Line 2: document number (12), check, given names (14),
            // birth (6), check, sex, composite over both lines.
            let l2 = &lines[1];
            let (num, nc, ok) = document(&l2[0..13], &mut repairs);
            c.document = ok;
            let b = digits(&l2[27..33], &mut repairs);
            let bc = digits(&l2[33..34], &mut repairs)[0];
            c.birth = date_checks(&b, bc);
            let s = letters(&l2[34..35], &mut repairs)[0];
            let cc = digits(&l2[35..36], &mut repairs)[0];
            // The composite covers the name fields too, whose fillers OCR
            // reads as letters: their trailing runs of filler look-alikes
            // are tried as fillers (names are never used, only checked).
            let office = digits(&l1[30..36], &mut repairs);
            c.composite = name_fillers(&l1[5..30]).iter().any(|surname| {
                name_fillers(&l2[13..27]).iter().any(|given| {
                    let mut composite = b"IDFRA".to_vec();
                    composite.extend(surname);
                    composite.extend(&office);
                    composite.extend(&num);
                    composite.push(nc);
                    composite.extend(given);
                    composite.extend(&b);
                    composite.push(bc);
                    composite.push(s);
                    checks(&composite, cc)
                })
            });
            number = num;
            birth = b;
            expiry = None;
            sex = s;
            nationality = Some("FRA".into());
        }
    }
    let birth = std::str::from_utf8(&birth).ok().and_then(Yymmdd::parse);
    let expiry = expiry
        .as_deref()
        .and_then(|e| std::str::from_utf8(e).ok())
        .and_then(Yymmdd::parse);
    Some(Mrz {
        layout,
        doc_code,
        issuing_country: issuing,
        nationality,
        birth,
        expiry,
        sex: matches!(sex, b'M' | b'F').then_some(char::from(sex)),
        document_number: Sensitive(text(&number)),
        checks: c,
        repairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ICAO 9303 part 4 specimen (TD3).
    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    /// ICAO 9303 part 5 specimen (TD1).
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];
    /// ICAO 9303 part 6 specimen (TD2).
    const TD2: [&str; 2] = [
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "D231458907UTO7408122F1204159<<<<<<<6",
    ];

    #[test]
    fn check_digits_follow_icao() {
        assert_eq!(check_digit(b"L898902C3"), Some(b'6'));
        assert_eq!(check_digit(b"740812"), Some(b'2'));
        assert_eq!(check_digit(b"120415"), Some(b'9'));
        assert_eq!(check_digit(b"D23145890"), Some(b'7'));
        assert_eq!(check_digit(b"<<<<<"), Some(b'0'));
        assert_eq!(check_digit(b"74a812"), None);
    }

    #[test]
    fn the_three_icao_specimens_parse_with_every_check_digit() {
        for (lines, layout) in [
            (&TD3[..], Layout::Td3),
            (&TD1[..], Layout::Td1),
            (&TD2[..], Layout::Td2),
        ] {
            let m = find(lines).unwrap_or_else(|| panic!("{layout:?} not found"));
            assert_eq!(m.layout, layout);
            assert!(m.checks.all(), "{layout:?}: {:?}", m.checks);
            assert_eq!(
                m.birth,
                Some(Yymmdd {
                    yy: 74,
                    mm: 8,
                    dd: 12
                })
            );
            assert_eq!(
                m.expiry,
                Some(Yymmdd {
                    yy: 12,
                    mm: 4,
                    dd: 15
                })
            );
            assert_eq!(m.sex, Some('F'));
            assert_eq!(m.issuing_country, "UTO");
            assert_eq!(m.repairs, 0);
        }
        assert_eq!(find(&TD3).unwrap().document_number.expose(), "L898902C3");
        assert_eq!(find(&TD3).unwrap().doc_code, "P");
    }

    #[test]
    fn the_document_number_never_prints_and_is_fingerprinted_with_the_key() {
        use crate::silver::pseudo::Pseudonymizer;
        let m = find(&TD3).unwrap();
        assert!(!format!("{m:?}").contains("L898902C3"));
        let (a, b) = (Pseudonymizer::new(b"key-a"), Pseudonymizer::new(b"key-b"));
        let f = m.fingerprint(&a);
        assert_eq!(f.len(), 64);
        assert!(!f.contains("L898902C3"));
        assert_eq!(f, find(&TD3).unwrap().fingerprint(&a), "stable");
        assert_ne!(f, m.fingerprint(&b), "keyed");
        assert_ne!(f, find(&TD1).unwrap().fingerprint(&a), "another document");
    }

    #[test]
    fn ocr_confusions_are_repaired_only_when_check_digits_then_pass() {
        // Nationality UTO read as UT0, birth date 740812 as 7408I2, a
        // filler as L. (A filler read as K or U cannot be caught: their
        // values, 20 and 30, weigh nothing modulo 10.)
        let l2 = "L898902C36UT07408I22F1204159ZE184226BL<<<<10";
        let m = find(&[TD3[0], l2]).unwrap();
        assert!(m.checks.all(), "{:?}", m.checks);
        assert_eq!(
            m.birth,
            Some(Yymmdd {
                yy: 74,
                mm: 8,
                dd: 12
            })
        );
        assert!(m.repairs >= 3, "{m:?}");
        // A changed birth-year digit: the repair cannot make it pass.
        let l2 = "L898902C36UTO7508122F1204159ZE184226B<<<<<10";
        let m = find(&[TD3[0], l2]).unwrap();
        assert!(!m.checks.birth);
        assert!(!m.checks.all());
    }

    #[test]
    fn what_tesseract_reads_from_an_ocr_b_specimen_is_accepted() {
        // `tesseract --psm 6 -l eng` (5.3) on the TD3 specimen rendered in
        // OCR-B: fillers of the name line read as K and X (three extra
        // characters), the nationality's O read as 0.
        let lines = [
            "P<UTOERIKSSON<<ANNAXMARIAK<X<<<<<<K<<KKKKKKKKK<",
            "L898902C36UT07408122F1204159ZE184226B<<<<<10",
        ];
        let m = find(&lines).unwrap();
        assert_eq!(m.layout, Layout::Td3);
        assert!(m.checks.all(), "{:?}", m.checks);
        assert_eq!(m.nationality.as_deref(), Some("UTO"));
        assert_eq!(
            m.birth,
            Some(Yymmdd {
                yy: 74,
                mm: 8,
                dd: 12
            })
        );
    }

    #[test]
    fn lines_are_found_among_other_text_with_spaces_and_a_missing_filler() {
        let lines = [
            "REPUBLIQUE D'UTOPIE  PASSPORT",
            "Surname / Nom ERIKSSON",
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<",
            "L898902C36 UTO7408122F1204159ZE184226B<<<<<10",
            "",
        ];
        let m = find(&lines).unwrap();
        assert_eq!(m.layout, Layout::Td3);
        assert!(m.checks.all());
    }

    fn french(number: &str, given: &str, birth: &str, sex: char) -> [String; 2] {
        let l1 = format!("{:<<36}", "IDFRADUPONT").replace(' ', "<");
        let l1 = format!("{}{}", &l1[..30], "750123");
        let nd = char::from(check_digit(number.as_bytes()).unwrap());
        let bd = char::from(check_digit(birth.as_bytes()).unwrap());
        let given = format!("{given:<<14}");
        let mut l2 = format!("{number}{nd}{given}{birth}{bd}{sex}");
        let composite = format!("{l1}{l2}");
        let cd = char::from(check_digit(composite.as_bytes()).unwrap());
        l2.push(cd);
        [l1, l2]
    }

    #[test]
    fn the_french_card_has_its_own_layout_and_no_expiry() {
        let [l1, l2] = french("880692310285", "CORINNE", "650412", 'F');
        assert_eq!((l1.len(), l2.len()), (36, 36));
        let m = find(&[&l1, &l2]).unwrap();
        assert_eq!(m.layout, Layout::FrenchId);
        assert!(m.checks.all(), "{:?}", m.checks);
        assert_eq!(
            m.birth,
            Some(Yymmdd {
                yy: 65,
                mm: 4,
                dd: 12
            })
        );
        assert_eq!(m.expiry, None);
        assert_eq!(m.nationality.as_deref(), Some("FRA"));
        // A wrong composite is caught.
        let bad = format!("{}{}", &l2[..35], if l2.ends_with('0') { '1' } else { '0' });
        assert!(!find(&[&l1, &bad]).unwrap().checks.composite);
    }

    #[test]
    fn no_mrz_no_result_and_garbage_never_panics() {
        assert!(find(&["hello", "world"]).is_none());
        let mut rng = 0x1234_5678_9abc_def0u64;
        for _ in 0..5_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut l2 = TD3[1].as_bytes().to_vec();
            let i = (rng as usize) % l2.len();
            l2[i] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"[((rng >> 32) % 37) as usize];
            let l2 = String::from_utf8(l2).unwrap();
            if let Some(m) = find(&[TD3[0], &l2]) {
                // Whatever was changed, a date used for a decision has a
                // passing check digit.
                if m.checks.birth {
                    assert!(m.birth.is_some());
                }
            }
        }
    }
}
