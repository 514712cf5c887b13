//! The visual zone (KYC-5), pure: dates and the document type found by
//! pattern matching in OCR text. Names are never extracted.

use chrono::NaiveDate;

/// What the visual zone gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visual {
    pub birth: Option<NaiveDate>,
    pub expiry: Option<NaiveDate>,
    pub doc_type: Option<&'static str>,
}

const BIRTH_LABELS: &[&str] = &[
    "naissance",
    "birth",
    "né le",
    "née le",
    "ne le",
    "geburt",
    "nascita",
    "nacimiento",
];
const EXPIRY_LABELS: &[&str] = &[
    "expir",
    "valable",
    "valid",
    "gültig",
    "scadenza",
    "caducidad",
    "4b",
];

/// A date written day first: `14.03.2008`, `14/03/2008`, `14-03-2008`,
/// `14 03 2008` (OCR look-alikes `O`→0, `l`/`I`→1 inside it repaired).
pub fn dates_in(line: &str) -> Vec<NaiveDate> {
    let fixed: String = line
        .chars()
        .map(|c| match c {
            'O' | 'o' => '0',
            'l' | 'I' | '|' => '1',
            _ => c,
        })
        .collect();
    let b = fixed.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 10 <= b.len() {
        let w = &b[i..i + 10];
        let digit = |k: usize| w[k].is_ascii_digit();
        let sep = |k: usize| matches!(w[k], b'.' | b'/' | b'-' | b' ');
        let boundary_before = i == 0 || !b[i - 1].is_ascii_digit();
        let boundary_after = i + 10 == b.len() || !b[i + 10].is_ascii_digit();
        if boundary_before
            && boundary_after
            && digit(0)
            && digit(1)
            && sep(2)
            && digit(3)
            && digit(4)
            && sep(5)
            && (6..10).all(digit)
        {
            let n = |r: std::ops::Range<usize>| {
                std::str::from_utf8(&w[r])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
            };
            if let (Some(d), Some(m), Some(y)) = (n(0..2), n(3..5), n(6..10)) {
                if let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d) {
                    out.push(date);
                    i += 10;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// The document type named by the title.
pub fn doc_type_in(text: &str) -> Option<&'static str> {
    let t = text.to_lowercase();
    if t.contains("permis") || t.contains("driving") || t.contains("führerschein") {
        Some("Permis de conduire")
    } else if t.contains("sejour") || t.contains("séjour") || t.contains("residence") {
        Some("Titre de séjour")
    } else if t.contains("passeport") || t.contains("passport") || t.contains("reisepass") {
        Some("Passeport")
    } else if t.contains("identit") || t.contains("personalausweis") {
        Some("CNI")
    } else {
        None
    }
}

/// Reads the visual zone: a date on a labelled line, or on the line after
/// a label, belongs to that label. Unlabelled dates are not guessed at.
pub fn read(text: &str) -> Visual {
    #[derive(Clone, Copy, PartialEq)]
    enum Label {
        Birth,
        Expiry,
    }
    let mut v = Visual {
        doc_type: doc_type_in(text),
        ..Visual::default()
    };
    let mut pending: Option<Label> = None;
    for line in text.lines() {
        let lower = line.to_lowercase();
        let label = if BIRTH_LABELS.iter().any(|l| lower.contains(l)) {
            Some(Label::Birth)
        } else if EXPIRY_LABELS.iter().any(|l| lower.contains(l)) {
            Some(Label::Expiry)
        } else {
            None
        };
        let dates = dates_in(line);
        let target = label.or(pending);
        if let (Some(t), Some(&d)) = (target, dates.first()) {
            let slot = match t {
                Label::Birth => &mut v.birth,
                Label::Expiry => &mut v.expiry,
            };
            slot.get_or_insert(d);
            pending = None;
        } else if label.is_some() {
            pending = label;
        } else if !line.trim().is_empty() {
            pending = None;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn labelled_dates_on_the_same_or_the_next_line() {
        let text = "CARTE NATIONALE D'IDENTITE\nNom / Surname\nXXXX\nDate de naissance / Date of birth\n14.03.2008\n\nValable jusqu'au / Valid until 01/02/2031\n";
        let v = read(text);
        assert_eq!(v.birth, Some(d(2008, 3, 14)));
        assert_eq!(v.expiry, Some(d(2031, 2, 1)));
        assert_eq!(v.doc_type, Some("CNI"));
    }

    #[test]
    fn look_alikes_and_impossible_dates() {
        assert_eq!(dates_in("né le 1O.O3.2OO8"), vec![d(2008, 3, 10)]);
        assert_eq!(dates_in("31.02.2008 and 123.04.20089"), vec![]);
        assert_eq!(dates_in("14 03 2008"), vec![d(2008, 3, 14)]);
        assert_eq!(dates_in(""), vec![]);
        assert_eq!(dates_in("é14.03.2008é"), vec![d(2008, 3, 14)]);
    }

    #[test]
    fn unlabelled_dates_are_not_guessed_and_a_blank_line_keeps_the_label() {
        let v = read("PERMIS DE CONDUIRE\n12.12.2012\nrandom text\n01.01.2001\n");
        assert_eq!((v.birth, v.expiry), (None, None));
        assert_eq!(v.doc_type, Some("Permis de conduire"));
        let v = read("Date of birth\nsomething else\n01.01.2001\n");
        assert_eq!(v.birth, None);
    }

    #[test]
    fn fuzzed_ocr_text_never_panics_and_dates_are_real_dates() {
        let corpus: [&[u8]; 3] = [
            "Date de naissance / Date of birth\n14.03.2008\nValable jusqu'au 01/02/2031\n"
                .as_bytes(),
            "PERMIS DE CONDUIRE\n3. 1O.O3.2OO8 4b. 31 12 2030\n".as_bytes(),
            "né le 29.02.2008 — expire 29-02-2031 é".as_bytes(),
        ];
        crate::fuzz::run("kyc visual", 23, &corpus, |input| {
            let text = String::from_utf8_lossy(input);
            let v = read(&text);
            for d in [v.birth, v.expiry].into_iter().flatten() {
                assert!(dates_in(&d.format("%d.%m.%Y").to_string()) == vec![d]);
            }
        });
    }
}
