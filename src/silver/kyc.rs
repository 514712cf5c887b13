//! `kvt silver kyc`: the identity provider's monthly export →
//! `silver/kyc/mois_soumission=YYYY-MM/` (SPEC §3.8, SILVER-KYC-1..11).
//!
//! Canonical document types and decisions, the provider's far-future expiry
//! sentinel turned into null (C7), dates of the faulty export tool
//! (`YYYY-DD-MM`, KYC-A4) put back in order, business-day delays and the
//! compliance SLA flag (C7 French calendar). Each file keeps one row per
//! `kyc_ref`: the latest export (bronze key order), then the last row.
//! The agent's name and the internal comment never reach silver; the provider
//! reference and the customer id are pseudonymised (C6).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use polars::prelude::PlHashMap;

use super::crm::parse_i32;
use super::csv::{
    typed, value, Admit, CsvRows, CsvSource, Fields, Invalid, Kind, RowError, Table, INVALID_FIELDS,
};
use super::dates::{self, fold_key, DateOrder};
use super::pseudo::Pseudonymizer;

const KYC_REF: usize = 0;
const PRESTATAIRE_REF: usize = 1;
const CUSTOMER_ID: usize = 2;
const DOC_TYPE: usize = 3;
const DOC_EXPIRATION: usize = 4;
const STATUT: usize = 5;
const MOTIF: usize = 6;
const NB_TENTATIVES: usize = 7;
const DATE_SOUMISSION: usize = 8;
const DATE_TRAITEMENT: usize = 9;
const DATE_VALIDATION: usize = 10;
const EXPORT_MONTH: usize = 11;

/// Source columns read; `agent_traitement`, `commentaire_interne` (SILVER-KYC-7,
/// -8) and `doc_pays_emission` (SILVER-KYC-10: a detail of the identity
/// document no analysis needs) are never read.
const SOURCE_COLUMNS: [&str; 12] = [
    "kyc_ref",
    "prestataire_ref",
    "customer_id",
    "doc_type",
    "doc_date_expiration",
    "statut_verification",
    "motif_refus",
    "nb_tentatives",
    "date_soumission",
    "date_traitement",
    "date_validation",
    "export_month",
];

/// Business days a file may stay pending (compliance sign-off, SILVER-KYC-6).
pub const SLA_BUSINESS_DAYS: i64 = 5;

/// The silver table (order = docs/silver.md), before `bronze_key`, `bronze_line`.
pub const SCHEMA: &[(&str, Kind)] = &[
    ("kyc_ref", Kind::Str),
    ("prestataire_ref_hash", Kind::Str),
    ("customer_id", Kind::Dict),
    ("doc_type", Kind::Dict),
    ("document_valide_a_la_soumission", Kind::Bool),
    ("expiration_illisible", Kind::Bool),
    ("statut_verification", Kind::Dict),
    ("motif_refus", Kind::Dict),
    ("nb_tentatives", Kind::I32),
    ("date_soumission", Kind::Date),
    ("date_traitement", Kind::Date),
    ("date_validation", Kind::Date),
    ("mois_soumission", Kind::Dict),
    ("export_month", Kind::Dict),
    ("dates_inversees", Kind::Bool),
    ("dates_ambigues", Kind::Bool),
    ("dates_incoherentes", Kind::Bool),
    ("delai_traitement_jours_ouvres", Kind::I32),
    ("delai_decision_jours_ouvres", Kind::I32),
    ("date_reference_sla", Kind::Date),
    ("sla_depasse", Kind::Bool),
    ("decision_tardive", Kind::Bool),
    (INVALID_FIELDS, Kind::Dict),
];

/// Expiry dates on or after this are the provider's "unreadable" sentinel (C7).
pub fn sentinel_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2090, 1, 1).unwrap_or(NaiveDate::MAX)
}

/// SILVER-KYC-1, OQ-18: the four document types; `None` for an unknown one.
/// (`N/A` and empty are null before this is called.)
pub fn canonical_doc_type(raw: &str) -> Option<&'static str> {
    let mut key = String::new();
    fold_key(raw, &mut key);
    Some(match key.as_str() {
        "cni" | "carte nationale d identite" | "carte d identite" | "carte identite" => "CNI",
        "passeport" | "passport" => "Passeport",
        "titre de sejour" | "carte de sejour" | "titre sejour" => "Titre de séjour",
        "permis de conduire" | "permis" => "Permis de conduire",
        _ => return None,
    })
}

/// SILVER-KYC-2: `validé`, `refusé`, `en_attente`; `None` for an unknown one.
/// (The string `NULL` is a null before this is called.)
pub fn canonical_status(raw: &str) -> Option<&'static str> {
    let mut key = String::new();
    fold_key(raw, &mut key);
    Some(match key.as_str() {
        "valide" => "validé",
        "refuse" => "refusé",
        "en attente" | "attente" | "pending" => "en_attente",
        _ => return None,
    })
}

/// The expiry date of a row's document (SILVER-KYC-3, -4): read like the
/// row's process dates. A row whose process dates were written `YYYY-DD-MM`
/// has its expiry read that way first; otherwise ISO (or day-first) first,
/// then `YYYY-DD-MM` when only that reading is a date (`2032-28-10`).
/// Returns the date and whether it was inverted.
pub fn parse_expiry(raw: &str, row_inverted: bool) -> Option<(NaiveDate, bool)> {
    let ydm = || dates::parse_date_as(raw, DateOrder::Ydm);
    if row_inverted {
        if let Some(d) = ydm() {
            return Some((d, true));
        }
    }
    match dates::parse_date(raw) {
        Some(d) => Some((d, false)),
        None => ydm().map(|d| (d, true)),
    }
}

/// What silver keeps of the expiry date (SILVER-KYC-10: never the date
/// itself): (valid on the submission day, unreadable). An expiry on or after
/// the sentinel, or in no date layout, is unreadable and its validity null;
/// a missing expiry is unknown (null, not flagged).
pub fn expiry_verdict(
    expiry: Option<NaiveDate>,
    present: bool,
    submitted: NaiveDate,
) -> (Option<bool>, bool) {
    match expiry {
        Some(e) if e >= sentinel_from() => (None, true),
        Some(e) => (Some(e >= submitted), false),
        None => (None, present),
    }
}

/// The three process dates of a row, once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessDates {
    pub soumission: Option<NaiveDate>,
    pub traitement: Option<NaiveDate>,
    pub validation: Option<NaiveDate>,
    /// Written `YYYY-DD-MM` by the faulty export tool, put back in order.
    pub inverted: bool,
    /// Both readings are plausible; the ISO one is kept.
    pub ambiguous: bool,
    /// No reading satisfies the export month and submission ≤ processing ≤ validation.
    pub incoherent: bool,
    /// Values that could not be read at all (left null).
    pub unreadable: [bool; 3],
}

fn read_as(raw: [Option<&str>; 3], order: DateOrder) -> Option<[Option<NaiveDate>; 3]> {
    let mut out = [None; 3];
    for (o, r) in out.iter_mut().zip(raw) {
        if let Some(r) = r {
            *o = Some(dates::parse_date_as(r, order)?);
        }
    }
    Some(out)
}

/// C7: submission in the export month, submission ≤ processing ≤ validation,
/// and no date after `upper` (the export's reference date: nothing can be
/// processed after the export was taken).
fn coherent(d: &[Option<NaiveDate>; 3], month: Option<NaiveDate>, upper: NaiveDate) -> bool {
    let in_month = match (d[0], month) {
        (Some(s), Some(m)) => s >= m && s <= dates::month_end(m),
        _ => true,
    };
    let present: Vec<NaiveDate> = d.iter().flatten().copied().collect();
    in_month && present.iter().all(|x| *x <= upper) && present.windows(2).all(|w| w[0] <= w[1])
}

/// SILVER-KYC-4, C7: read a row's three process dates, written either ISO or
/// `YYYY-DD-MM` (the faulty tool writes all three of a row the same way).
/// A reading is plausible when every present value parses under it, the
/// submission lies in `export_month`, submission ≤ processing ≤ validation,
/// and no date is after the export's reference date ([`sla_reference`]:
/// the last day of the export month, or `today` if earlier). One plausible reading wins; two different plausible readings
/// keep ISO and flag the row ambiguous; none keeps the first that parses and
/// flags the row incoherent. Values in no known layout are left null.
pub fn resolve_dates(
    raw: [Option<&str>; 3],
    export_month: Option<NaiveDate>,
    today: NaiveDate,
) -> ProcessDates {
    let upper = sla_reference(export_month, today);
    let ok = |d: &[Option<NaiveDate>; 3]| coherent(d, export_month, upper);
    let iso = read_as(raw, DateOrder::Ymd);
    let inv = read_as(raw, DateOrder::Ydm);
    let make = |d: [Option<NaiveDate>; 3]| ProcessDates {
        soumission: d[0],
        traitement: d[1],
        validation: d[2],
        ..Default::default()
    };
    match (iso, inv) {
        (Some(a), Some(b)) if a == b => make(a),
        (Some(a), Some(b)) => match (ok(&a), ok(&b)) {
            (true, false) => make(a),
            (false, true) => ProcessDates {
                inverted: true,
                ..make(b)
            },
            (true, true) => ProcessDates {
                ambiguous: true,
                ..make(a)
            },
            (false, false) => ProcessDates {
                incoherent: true,
                ..make(a)
            },
        },
        (Some(a), None) => ProcessDates {
            incoherent: !ok(&a),
            ..make(a)
        },
        (None, Some(b)) => ProcessDates {
            inverted: true,
            incoherent: !ok(&b),
            ..make(b)
        },
        (None, None) => {
            // Another layout (day-first), or values that do not parse at all.
            let mut d = [None; 3];
            let mut unreadable = [false; 3];
            for i in 0..3 {
                if let Some(r) = raw[i] {
                    d[i] = dates::parse_date(r);
                    unreadable[i] = d[i].is_none();
                }
            }
            ProcessDates {
                incoherent: !ok(&d),
                unreadable,
                ..make(d)
            }
        }
    }
}

/// SILVER-KYC-6, OQ-6: the date a pending file is measured at — the export
/// date, `min(last day of the export month, today)` (today alone without a
/// month).
pub fn sla_reference(export_month: Option<NaiveDate>, today: NaiveDate) -> NaiveDate {
    export_month
        .map(|m| dates::month_end(m).min(today))
        .unwrap_or(today)
}

/// `kyc/mois_soumission=2026-03`.
pub fn partition_of(submitted: NaiveDate) -> String {
    format!(
        "kyc/{}",
        crate::table::partition_path(&[("mois_soumission", &dates::year_month(submitted))])
    )
}

/// The provider's export as the stage reads it.
#[derive(Clone)]
pub struct KycRows {
    pseudo: Pseudonymizer,
    today: NaiveDate,
    partitions: PlHashMap<i32, Arc<str>>,
    inv: Invalid,
}

impl KycRows {
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> KycRows {
        KycRows {
            pseudo,
            today,
            partitions: PlHashMap::default(),
            inv: Invalid::default(),
        }
    }

    /// The export month and the resolved process dates of a record.
    fn dates(&self, f: &Fields<'_>, inv: &mut Invalid) -> (Option<NaiveDate>, ProcessDates) {
        let month = typed(
            f.get(EXPORT_MONTH),
            "export_month",
            inv,
            dates::parse_year_month,
        );
        let raw = [DATE_SOUMISSION, DATE_TRAITEMENT, DATE_VALIDATION].map(|c| value(f.get(c)));
        (month, resolve_dates(raw, month, self.today))
    }
}

impl CsvRows for KycRows {
    const NAME: &'static str = "kyc";
    const TABLES: &'static [&'static str] = &["kyc"];
    const SEPARATOR: u8 = b',';
    const COLUMNS: &'static [&'static str] = &SOURCE_COLUMNS;
    const REQUIRED: &'static [usize] = &[KYC_REF, DATE_SOUMISSION];
    const SCHEMA: &'static [(&'static str, Kind)] = SCHEMA;

    fn admit<'a>(&mut self, f: &Fields<'a>) -> Result<Admit<'a>, RowError> {
        let key = value(f.get(KYC_REF)).ok_or(("kyc_ref", "missing".into()))?;
        let (_, d) = self.dates(f, &mut Invalid::default());
        let Some(submitted) = d.soumission else {
            let why = if value(f.get(DATE_SOUMISSION)).is_none() {
                "missing (the partition's month)"
            } else {
                "not a date"
            };
            return Err(("date_soumission", why.to_string()));
        };
        let partition = self
            .partitions
            .entry(submitted.year() * 12 + submitted.month0() as i32)
            .or_insert_with(|| partition_of(submitted).into())
            .clone();
        Ok(Admit {
            key,
            partition,
            primary: None,
        })
    }

    fn build(&mut self, f: &Fields<'_>, t: &mut Table) -> bool {
        let get = |c: usize| f.get(c);
        let mut inv = std::mem::take(&mut self.inv);
        inv.clear();
        let (month, d) = self.dates(f, &mut inv);
        // Admitted rows have a submission date.
        let submitted = d.soumission.unwrap_or_default();
        for (bad, name) in d.unreadable[1..]
            .iter()
            .zip(["date_traitement", "date_validation"])
        {
            if *bad {
                inv.add(name);
            }
        }
        let pseudo = &self.pseudo;
        t.str(value(get(KYC_REF)));
        t.str(
            value(get(PRESTATAIRE_REF))
                .map(|p| pseudo.pseudo(p))
                .as_deref(),
        );
        t.dict_with(value(get(CUSTOMER_ID)), |c| pseudo.pseudo(c));
        t.dict(typed(
            get(DOC_TYPE),
            "doc_type",
            &mut inv,
            canonical_doc_type,
        ));
        let raw_expiry = value(get(DOC_EXPIRATION));
        let expiry = raw_expiry.and_then(|r| parse_expiry(r, d.inverted));
        if raw_expiry.is_some() && expiry.is_none() {
            inv.add("doc_date_expiration");
        }
        let expiry_inverted = expiry.is_some_and(|(_, inv)| inv);
        let (valid, unreadable) =
            expiry_verdict(expiry.map(|e| e.0), raw_expiry.is_some(), submitted);
        t.bool(valid);
        t.bool(Some(unreadable));
        let status = typed(
            get(STATUT),
            "statut_verification",
            &mut inv,
            canonical_status,
        );
        t.dict(status);
        t.dict(value(get(MOTIF)));
        t.i32(typed(
            get(NB_TENTATIVES),
            "nb_tentatives",
            &mut inv,
            parse_i32,
        ));
        t.date(Some(submitted));
        t.date(d.traitement);
        t.date(d.validation);
        t.dict(Some(&dates::year_month(submitted)));
        t.dict(month.map(dates::year_month).as_deref());
        t.bool(Some(d.inverted || expiry_inverted));
        t.bool(Some(d.ambiguous));
        t.bool(Some(d.incoherent));
        let delay = |end: Option<NaiveDate>| end.map(|e| dates::business_days(submitted, e) as i32);
        t.i32(delay(d.traitement));
        let decision = delay(d.validation);
        t.i32(decision);
        let reference = sla_reference(month, self.today);
        t.date(Some(reference));
        let pending = dates::business_days(submitted, reference);
        t.bool(Some(
            status == Some("en_attente") && pending > SLA_BUSINESS_DAYS,
        ));
        t.bool(Some(
            decision.is_some_and(|n| i64::from(n) > SLA_BUSINESS_DAYS),
        ));
        let invalid = inv.joined();
        t.dict(invalid.as_deref());
        self.inv = inv;
        unreadable
            || d.inverted
            || expiry_inverted
            || d.ambiguous
            || d.incoherent
            || invalid.is_some()
    }
}

/// The runner's view of the kyc source.
pub type KycSource = CsvSource<KycRows>;

impl KycSource {
    /// `today` is the run's date in Europe/Paris (the SLA reference, OQ-6).
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> KycSource {
        CsvSource::with_rows(KycRows::new(pseudo, today))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silver::runner::Source;
    use crate::silver::{Counts, Input, Reject};
    use polars::prelude::*;
    use std::collections::BTreeSet;

    const HEADER: &str = "kyc_ref,prestataire_ref,customer_id,doc_type,doc_pays_emission,doc_date_expiration,statut_verification,motif_refus,agent_traitement,nb_tentatives,date_soumission,date_traitement,date_validation,commentaire_interne,export_month";

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    fn input(key: &str) -> Input {
        crate::silver::runner::testing::input(key)
    }

    fn run(body: &str, today: NaiveDate) -> (DataFrame, Counts, Vec<Reject>) {
        let mut src = KycSource::new(Pseudonymizer::new(b"test-key"), today);
        let mut rejects = Vec::new();
        let mut seen = BTreeSet::new();
        let mut counts = src
            .process(
                &input("bronze/kyc/kyc_export_2026-03.x.csv"),
                1,
                body.as_bytes(),
                None,
                &mut seen,
                &mut rejects,
            )
            .unwrap();
        let mut out = src.take(true).unwrap();
        counts += src.finish_counts();
        assert_eq!(
            out.len(),
            1,
            "{:?}",
            out.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        assert_eq!(out[0].0, "kyc/mois_soumission=2026-03");
        (out.remove(0).1, counts, rejects)
    }

    /// The fixture's export (testdata/drive/kyc/kyc_export_2026-03.csv).
    const FIXTURE: &str = "KYC-202603-00001,PRV-706B4F5EEB,CUST-000009,Permis de conduire,FR,2034-07-20,Validé,,Agnès Pelletier,1,2026-03-04,2026-03-09,2026-03-11,,2026-03
KYC-202603-00002,PRV-CA6421FEA5,CUST-000008,PASSEPORT,FR,2029-05-12,EN ATTENTE,,,1,2026-03-03,,,,2026-03
KYC-202603-00003,PRV-786D045E7F,CUST-000008,Passeport,FR,9999-12-31,validé,,Fabrice N'Diaye,2,2026-11-03,2026-13-03,2026-17-03,Client rappelé au 07 37 92 56 91,2026-03
KYC-202603-00004,PRV-4932565029,CUST-000010,CNI,FR,2099-12-31,validé,,Géraldine Poulain,1,2026-02-03,2026-02-03,2026-04-03,,2026-03
KYC-202603-00005,PRV-DD139590A1,CUST-000007,cni,FR,9999-12-31,NULL,,,1,2026-03-12,,,,2026-03
KYC-202603-00006,PRV-6D88C7921B,CUST-000008,PASSEPORT,FR,2099-12-31,en_attente,,Géraldine Poulain,2,2026-03-14,2026-03-17,,,2026-03";

    fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }
    fn bools(df: &DataFrame, c: &str) -> Vec<Option<bool>> {
        df.column(c).unwrap().bool().unwrap().iter().collect()
    }
    fn dates_of(df: &DataFrame, c: &str) -> Vec<Option<String>> {
        let s = df.column(c).unwrap().as_materialized_series().clone();
        (0..s.len())
            .map(|i| match s.get(i).unwrap() {
                AnyValue::Null => None,
                v => Some(v.to_string()),
            })
            .collect()
    }

    #[test]
    fn canonical_values() {
        for s in ["CNI", "cni", " Cni "] {
            assert_eq!(canonical_doc_type(s), Some("CNI"));
        }
        for s in ["Passeport", "PASSEPORT"] {
            assert_eq!(canonical_doc_type(s), Some("Passeport"));
        }
        for s in ["Titre de séjour", "titre de sejour", "TITRE DE SÉJOUR"] {
            assert_eq!(canonical_doc_type(s), Some("Titre de séjour"));
        }
        for s in ["Permis de conduire", "PERMIS DE CONDUIRE"] {
            assert_eq!(canonical_doc_type(s), Some("Permis de conduire"));
        }
        assert!(canonical_doc_type("Carte vitale").is_none());
        for s in ["validé", "Validé", "VALIDE"] {
            assert_eq!(canonical_status(s), Some("validé"));
        }
        for s in ["refusé", "Refusé", "REFUSE"] {
            assert_eq!(canonical_status(s), Some("refusé"));
        }
        for s in ["en_attente", "EN ATTENTE", "En attente"] {
            assert_eq!(canonical_status(s), Some("en_attente"));
        }
        assert!(canonical_status("peut-être").is_none());
    }

    #[test]
    fn inverted_dates_are_resolved_by_the_month_and_the_order() {
        let march = Some(d(2026, 3, 1));
        let today = d(2026, 3, 17);
        let later = d(2026, 12, 31);
        // Unambiguous: a day above 12.
        let r = resolve_dates(
            [Some("2026-11-03"), Some("2026-13-03"), Some("2026-17-03")],
            march,
            today,
        );
        assert_eq!(
            (r.soumission, r.traitement, r.validation),
            (
                Some(d(2026, 3, 11)),
                Some(d(2026, 3, 13)),
                Some(d(2026, 3, 17))
            )
        );
        assert!(r.inverted && !r.ambiguous && !r.incoherent);
        // Ambiguous text, resolved by the export month.
        let r = resolve_dates(
            [Some("2026-02-03"), Some("2026-02-03"), Some("2026-04-03")],
            march,
            today,
        );
        assert_eq!(
            (r.soumission, r.traitement, r.validation),
            (
                Some(d(2026, 3, 2)),
                Some(d(2026, 3, 2)),
                Some(d(2026, 3, 4))
            )
        );
        assert!(r.inverted && !r.ambiguous);
        // Resolved by the order alone (no month).
        let r = resolve_dates([Some("2026-05-03"), Some("2026-03-10"), None], None, later);
        assert_eq!(r.soumission, Some(d(2026, 3, 5)));
        assert_eq!(r.traitement, Some(d(2026, 10, 3)));
        assert!(r.inverted);
        // Both readings plausible: kept as ISO and flagged.
        let r = resolve_dates([Some("2026-03-03"), Some("2026-04-03"), None], None, later);
        assert_eq!(
            (r.soumission, r.traitement),
            (Some(d(2026, 3, 3)), Some(d(2026, 4, 3)))
        );
        assert!(r.ambiguous && !r.inverted);
        // The same text in a past month: the other reading (2 March) is after
        // the export's date (28 February), so ISO wins without ambiguity.
        let r = resolve_dates(
            [Some("2026-02-02"), Some("2026-02-03"), None],
            Some(d(2026, 2, 1)),
            today,
        );
        assert_eq!(r.traitement, Some(d(2026, 2, 3)));
        assert!(!r.ambiguous && !r.inverted && !r.incoherent);
        // A date in the future is not plausible either.
        let r = resolve_dates([Some("2026-03-03"), Some("2026-04-03"), None], None, today);
        assert_eq!(r.traitement, Some(d(2026, 3, 4)));
        assert!(r.inverted && !r.ambiguous);
        // Day = month everywhere: nothing to resolve.
        let r = resolve_dates([Some("2026-03-03"), None, None], march, today);
        assert!(!r.ambiguous && !r.inverted && !r.incoherent);
        // An ordinary ISO row.
        let r = resolve_dates(
            [Some("2026-03-04"), Some("2026-03-09"), Some("2026-03-11")],
            march,
            today,
        );
        assert_eq!(r.traitement, Some(d(2026, 3, 9)));
        assert!(!r.inverted && !r.ambiguous && !r.incoherent);
        // No reading is coherent: ISO kept, flagged.
        let r = resolve_dates([Some("2026-03-20"), Some("2026-03-18"), None], march, today);
        assert!(r.incoherent && !r.inverted);
        assert_eq!(r.soumission, Some(d(2026, 3, 20)));
        // Day-first and garbage.
        let r = resolve_dates([Some("04/03/2026"), Some("demain"), None], march, today);
        assert_eq!(r.soumission, Some(d(2026, 3, 4)));
        assert_eq!(r.traitement, None);
        assert_eq!(r.unreadable, [false, true, false]);
    }

    #[test]
    fn sla_reference_is_the_export_date() {
        assert_eq!(
            sla_reference(Some(d(2026, 3, 1)), d(2026, 3, 17)),
            d(2026, 3, 17)
        );
        assert_eq!(
            sla_reference(Some(d(2026, 2, 1)), d(2026, 3, 17)),
            d(2026, 2, 28)
        );
        assert_eq!(sla_reference(None, d(2026, 3, 17)), d(2026, 3, 17));
    }

    #[test]
    fn the_fixture_export() {
        let body = format!("{HEADER}\n{FIXTURE}\n");
        let (df, counts, rejects) = run(&body, d(2026, 3, 17));
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(df.height(), 6);
        assert_eq!(
            strs(&df, "doc_type"),
            [
                "Permis de conduire",
                "Passeport",
                "Passeport",
                "CNI",
                "CNI",
                "Passeport"
            ]
            .map(|s| Some(s.to_string()))
        );
        assert_eq!(
            strs(&df, "statut_verification"),
            [
                Some("validé"),
                Some("en_attente"),
                Some("validé"),
                Some("validé"),
                None,
                Some("en_attente")
            ]
            .map(|s| s.map(str::to_string))
        );
        // Sentinels: 9999-12-31 and 2099-12-31 → unknown validity, flagged.
        assert_eq!(
            bools(&df, "document_valide_a_la_soumission"),
            [Some(true), Some(true), None, None, None, None]
        );
        assert_eq!(
            bools(&df, "expiration_illisible"),
            [false, false, true, true, true, true].map(Some)
        );
        // KYC-A4 rows put back (true dates from ground_truth.json).
        assert_eq!(
            dates_of(&df, "date_soumission")[2..4],
            [Some("2026-03-11".into()), Some("2026-03-02".into())]
        );
        assert_eq!(
            dates_of(&df, "date_validation")[2..4],
            [Some("2026-03-17".into()), Some("2026-03-04".into())]
        );
        assert_eq!(
            bools(&df, "dates_inversees"),
            [false, false, true, true, false, false].map(Some)
        );
        // SLA: only KYC-202603-00002 (pending since 3 March; 10 business days).
        assert_eq!(
            bools(&df, "sla_depasse"),
            [false, true, false, false, false, false].map(Some)
        );
        assert_eq!(bools(&df, "decision_tardive"), [false; 6].map(Some));
        assert_eq!(
            df.column("delai_decision_jours_ouvres")
                .unwrap()
                .i32()
                .unwrap()
                .get(0),
            Some(5)
        );
        assert_eq!(
            df.column("delai_traitement_jours_ouvres")
                .unwrap()
                .i32()
                .unwrap()
                .get(0),
            Some(3)
        );
        assert_eq!(counts.flagged, 4);
        assert_eq!(counts.deduplicated, 0);
        // Nothing personal survives.
        let dump = format!("{df:?}");
        for pii in [
            "Pelletier",
            "N'Diaye",
            "Poulain",
            "07 37 92 56 91",
            "PRV-",
            "CUST-",
        ] {
            assert!(!dump.contains(pii), "{pii} leaked");
        }
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(!names.contains(&"agent_traitement".to_string()));
        assert!(!names.contains(&"commentaire_interne".to_string()));
    }

    /// Regression (issue 7): `2032-28-10`-style expiries were nulled although
    /// the month is unambiguous and the row's dates were read as inverted.
    #[test]
    fn inverted_expiry_dates_are_read_like_the_process_dates() {
        assert_eq!(
            parse_expiry("2032-28-10", false),
            Some((d(2032, 10, 28), true))
        );
        assert_eq!(
            parse_expiry("2032-10-28", false),
            Some((d(2032, 10, 28), false))
        );
        // Ambiguous text: the row's layout decides.
        assert_eq!(
            parse_expiry("2032-05-10", true),
            Some((d(2032, 10, 5), true))
        );
        assert_eq!(
            parse_expiry("2032-05-10", false),
            Some((d(2032, 5, 10), false))
        );
        assert_eq!(
            parse_expiry("28/10/2032", true),
            Some((d(2032, 10, 28), false))
        );
        assert_eq!(
            parse_expiry("9999-12-31", true),
            Some((d(9999, 12, 31), false))
        );
        assert_eq!(parse_expiry("bientôt", false), None);
        let body = format!(
            "{HEADER}\nK1,P,C,CNI,FR,2032-28-10,validé,,,1,2026-11-03,2026-13-03,2026-17-03,,2026-03\nK2,P,C,CNI,FR,2026-10-03,validé,,,1,2026-11-03,2026-13-03,2026-17-03,,2026-03\nK3,P,C,CNI,FR,2026-28-02,refusé,Document expiré,,1,2026-03-04,2026-03-05,2026-03-06,,2026-03\n"
        );
        let (df, _, _) = run(&body, d(2026, 3, 17));
        // K2: `2026-10-03` read inverted like its row: 10 March 2026, expired
        // when submitted on 11 March (read ISO it would be valid until October);
        // K3: 28 February 2026, expired when submitted on 4 March.
        assert_eq!(
            bools(&df, "document_valide_a_la_soumission"),
            [Some(true), Some(false), Some(false)]
        );
        assert_eq!(bools(&df, "expiration_illisible"), [Some(false); 3]);
        assert_eq!(bools(&df, "dates_inversees"), [Some(true); 3]);
        assert_eq!(strs(&df, INVALID_FIELDS), [None, None, None]);
    }

    /// SILVER-KYC-10 (issue 7): no issuing country, no exact expiry date.
    #[test]
    fn no_document_detail_reaches_silver() {
        let names: Vec<&str> = SCHEMA.iter().map(|c| c.0).collect();
        for gone in ["doc_pays_emission", "doc_date_expiration", "doc_numero"] {
            assert!(!names.contains(&gone), "{gone}");
        }
        let body = format!("{HEADER}\nK1,P,C,CNI,DE,2031-04-05,validé,,,1,2026-03-02,,,,2026-03\n");
        let (df, _, _) = run(&body, d(2026, 3, 17));
        let dump = format!("{df:?}");
        assert!(!dump.contains("2031") && !dump.contains("\"DE\""), "{dump}");
    }

    #[test]
    fn decided_late_files_have_their_own_flag() {
        let body = format!(
            "{HEADER}\nK1,P,C,CNI,FR,2030-01-01,refusé,Document illisible,,1,2026-03-02,2026-03-10,2026-03-11,,2026-03\n"
        );
        let (df, _, _) = run(&body, d(2026, 3, 31));
        assert_eq!(bools(&df, "decision_tardive"), [Some(true)]);
        assert_eq!(bools(&df, "sla_depasse"), [Some(false)]);
        assert_eq!(
            df.column("delai_decision_jours_ouvres")
                .unwrap()
                .i32()
                .unwrap()
                .get(0),
            Some(7)
        );
    }

    #[test]
    fn latest_export_wins_then_last_row() {
        let mut src = KycSource::new(Pseudonymizer::new(b"k"), d(2026, 3, 31));
        let mut rejects = Vec::new();
        let a =
            format!("{HEADER}\nK1,P,C,CNI,FR,2030-01-01,en_attente,,,1,2026-03-02,,,,2026-03\n");
        let b = format!("{HEADER}\nK1,P,C,CNI,FR,2030-01-01,en_attente,,,1,2026-03-02,,,,2026-03\nK1,P,C,CNI,FR,2030-01-01,validé,,,1,2026-03-02,2026-03-03,2026-03-04,,2026-03\n");
        for (k, body) in [
            ("bronze/kyc/kyc_export_2026-03.2.csv", &b),
            ("bronze/kyc/kyc_export_2026-03.1.csv", &a),
        ] {
            let mut seen = BTreeSet::new();
            src.process(&input(k), 1, body.as_bytes(), None, &mut seen, &mut rejects)
                .unwrap();
        }
        let out = src.take(true).unwrap();
        assert_eq!(
            strs(&out[0].1, "statut_verification"),
            [Some("validé".into())]
        );
        assert_eq!(src.finish_counts().deduplicated, 2);
    }

    #[test]
    fn unknown_values_are_nulled_named_and_bad_rows_rejected() {
        let body = format!(
            "{HEADER}\nK1,P,C,Carte vitale,Atlantide,bientôt,PEUT-ETRE,,,x,2026-03-02,hier,,,2026-03\nK2,P,C,N/A,FR,,NULL,,,1,,,,,2026-03\n,P,C,CNI,FR,,,,,1,2026-03-02,,,,2026-03\nK4,P,C\n"
        );
        let (df, counts, rejects) = run(&body, d(2026, 3, 17));
        assert_eq!(
            strs(&df, INVALID_FIELDS),
            [Some(
                "date_traitement,doc_type,doc_date_expiration,statut_verification,nb_tentatives"
                    .into()
            )]
        );
        let got: Vec<(u64, &str)> = rejects.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(got, [(3, "date_soumission"), (4, "kyc_ref"), (5, "line")]);
        assert_eq!((counts.rows_in, counts.rejected, counts.flagged), (4, 3, 1));
    }
}
