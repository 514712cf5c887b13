//! The age decision (KYC-7, CONTRACTS C1/C9), pure: evidence read from a
//! document and "today" in, a decision and its reason out. Its one
//! unforgivable error is declaring a minor `majeur`, so every doubt goes to
//! human review (`en_attente`) with the reason an agent needs.

use chrono::{Datelike, NaiveDate};

use super::mrz::Yymmdd;

/// C1 `decision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Majeur,
    Mineur,
    EnAttente,
}

/// C1 `reason` of an `en_attente` decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    #[serde(rename = "confiance_insuffisante")]
    ConfianceInsuffisante,
    #[serde(rename = "mrz_invalide")]
    MrzInvalide,
    #[serde(rename = "date_illisible")]
    DateIllisible,
    #[serde(rename = "document_expiré")]
    DocumentExpire,
}

/// What was read from the document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// OCR extraction confidence, 0 to 1 (KYC-6).
    pub confidence: f64,
    /// Every check digit of the MRZ passed (`true` without an MRZ: the
    /// visual zone has none, its lower confidence sends it to review).
    pub check_digits_ok: bool,
    pub birth: Option<NaiveDate>,
    pub expiry: Option<NaiveDate>,
}

/// The decision and what C1/KYC-9 report with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub decision: Decision,
    pub reason: Option<Reason>,
    /// Whole years; `None` when not computed (KYC-7: not below the
    /// confidence threshold, nor from an unchecked date).
    pub age_computed: Option<u32>,
    /// `None` when the expiry is unknown (C9).
    pub doc_expiration_valid: Option<bool>,
}

/// The birth date of an MRZ: the century that puts it in the past and
/// nobody over 120 (`None`: impossible date, or no such century).
pub fn birth_date(d: Yymmdd, today: NaiveDate) -> Option<NaiveDate> {
    [2000, 1900].into_iter().find_map(|century| {
        let date = NaiveDate::from_ymd_opt(century + d.yy as i32, d.mm, d.dd)?;
        (date <= today && age(date, today)? <= 120).then_some(date)
    })
}

/// The expiry date of an MRZ: documents issued since 2000 expire in this
/// century.
pub fn expiry_date(d: Yymmdd) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2000 + d.yy as i32, d.mm, d.dd)
}

/// Age in whole years on `today`. Someone born on 29 February has a
/// birthday on 1 March in other years (the later of the two readings: a
/// doubt never makes anyone adult a day early).
pub fn age(birth: NaiveDate, today: NaiveDate) -> Option<u32> {
    if birth > today {
        return None;
    }
    let years = today.year() - birth.year();
    let birthday = NaiveDate::from_ymd_opt(today.year(), birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(today.year(), 3, 1))?;
    let years = if today < birthday { years - 1 } else { years };
    u32::try_from(years).ok()
}

/// KYC-7, in the order of issue 10: confidence, check digits, readable
/// dates, expiry, age.
pub fn decide(e: &Evidence, threshold: f64, today: NaiveDate) -> Outcome {
    let doc_expiration_valid = e.expiry.map(|x| x >= today);
    let review = |reason| Outcome {
        decision: Decision::EnAttente,
        reason: Some(reason),
        age_computed: None,
        doc_expiration_valid,
    };
    // A NaN confidence is not at or above the threshold either.
    if e.confidence
        .partial_cmp(&threshold)
        .is_none_or(|o| o.is_lt())
    {
        return review(Reason::ConfianceInsuffisante);
    }
    if !e.check_digits_ok {
        return review(Reason::MrzInvalide);
    }
    let (Some(birth), Some(expiry)) = (e.birth, e.expiry) else {
        return review(Reason::DateIllisible);
    };
    let Some(years) = age(birth, today) else {
        return review(Reason::DateIllisible);
    };
    if expiry < today {
        return Outcome {
            age_computed: Some(years),
            ..review(Reason::DocumentExpire)
        };
    }
    Outcome {
        decision: if years >= 18 {
            Decision::Majeur
        } else {
            Decision::Mineur
        },
        reason: None,
        age_computed: Some(years),
        doc_expiration_valid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2026, 12, 3);

    fn today() -> NaiveDate {
        d(TODAY.0, TODAY.1, TODAY.2)
    }

    fn ev(birth: NaiveDate, expiry: NaiveDate) -> Evidence {
        Evidence {
            confidence: 0.9,
            check_digits_ok: true,
            birth: Some(birth),
            expiry: Some(expiry),
        }
    }

    #[test]
    fn eighteen_is_reached_on_the_birthday_not_a_day_before() {
        let exp = d(2030, 1, 1);
        let o = decide(&ev(d(2008, 12, 3), exp), 0.75, today());
        assert_eq!((o.decision, o.age_computed), (Decision::Majeur, Some(18)));
        let o = decide(&ev(d(2008, 12, 4), exp), 0.75, today());
        assert_eq!((o.decision, o.age_computed), (Decision::Mineur, Some(17)));
        // Born on 29 February 2008: adult on 1 March 2026, not 28 February.
        let b = d(2008, 2, 29);
        assert_eq!(age(b, d(2026, 2, 28)), Some(17));
        assert_eq!(age(b, d(2026, 3, 1)), Some(18));
        assert_eq!(age(b, d(2028, 2, 29)), Some(20));
    }

    #[test]
    fn the_order_of_the_checks() {
        let good = ev(d(1990, 5, 1), d(2030, 1, 1));
        let low = Evidence {
            confidence: 0.7499,
            ..good
        };
        let o = decide(&low, 0.75, today());
        assert_eq!(o.reason, Some(Reason::ConfianceInsuffisante));
        assert_eq!(o.age_computed, None, "no age below the threshold (KYC-7)");
        let exactly = Evidence {
            confidence: 0.75,
            ..good
        };
        assert_eq!(decide(&exactly, 0.75, today()).decision, Decision::Majeur);
        let nan = Evidence {
            confidence: f64::NAN,
            ..good
        };
        assert_eq!(
            decide(&nan, 0.75, today()).reason,
            Some(Reason::ConfianceInsuffisante)
        );
        let bad = Evidence {
            check_digits_ok: false,
            ..good
        };
        assert_eq!(
            decide(&bad, 0.75, today()).reason,
            Some(Reason::MrzInvalide)
        );
        let no_birth = Evidence {
            birth: None,
            ..good
        };
        assert_eq!(
            decide(&no_birth, 0.75, today()).reason,
            Some(Reason::DateIllisible)
        );
        let no_expiry = Evidence {
            expiry: None,
            ..good
        };
        let o = decide(&no_expiry, 0.75, today());
        assert_eq!(o.reason, Some(Reason::DateIllisible));
        assert_eq!(o.doc_expiration_valid, None);
        let expired = ev(d(1990, 5, 1), d(2026, 12, 2));
        let o = decide(&expired, 0.75, today());
        assert_eq!(
            (o.decision, o.reason, o.doc_expiration_valid),
            (
                Decision::EnAttente,
                Some(Reason::DocumentExpire),
                Some(false)
            )
        );
        let expiring_today = ev(d(1990, 5, 1), today());
        assert_eq!(
            decide(&expiring_today, 0.75, today()).decision,
            Decision::Majeur
        );
    }

    #[test]
    fn two_digit_years_put_nobody_in_the_future_or_over_120() {
        let y = |yy, mm, dd| Yymmdd { yy, mm, dd };
        assert_eq!(birth_date(y(8, 12, 3), today()), Some(d(2008, 12, 3)));
        assert_eq!(birth_date(y(26, 12, 3), today()), Some(d(2026, 12, 3)));
        assert_eq!(birth_date(y(26, 12, 4), today()), Some(d(1926, 12, 4)));
        assert_eq!(birth_date(y(74, 8, 12), today()), Some(d(1974, 8, 12)));
        assert_eq!(birth_date(y(6, 1, 1), today()), Some(d(2006, 1, 1)));
        assert_eq!(birth_date(y(90, 2, 30), today()), None, "no 30 February");
        assert_eq!(birth_date(y(90, 13, 1), today()), None);
        assert_eq!(expiry_date(y(12, 4, 15)), Some(d(2012, 4, 15)));
        assert_eq!(expiry_date(y(0, 0, 0)), None);
    }

    #[test]
    fn reasons_serialise_as_c1_says() {
        assert_eq!(
            serde_json::to_string(&Reason::DocumentExpire).unwrap(),
            "\"document_expiré\""
        );
        assert_eq!(
            serde_json::to_string(&Decision::EnAttente).unwrap(),
            "\"en_attente\""
        );
    }
}
