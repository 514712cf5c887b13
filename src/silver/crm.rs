//! `kvt silver crm`: the weekly Salesforce export → `silver/crm/pays=XX/`
//! (SPEC §3.4, SILVER-CRM-1..11).
//!
//! Pure parsing ([`parse`]) plus the runner's view ([`CrmSource`]). Every
//! export is read whole (its header names the columns); rows are kept per
//! country until the end of the run, when each customer keeps only its most
//! recent row (SILVER-CRM-2, OQ-37: `DATE MODIFICATION`, then the later export
//! by bronze key, then the later row).
//!
//! Personal data that does not reach silver: first and last name, phone,
//! street, sales owner, city, Salesforce id (dropped); the postal code is cut
//! to its département; the e-mail and the customer id are pseudonymised (C6);
//! the birth date becomes an age.

use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::PlHashMap;

use super::csv::{
    typed, value, Admit, CsvRows, CsvSource, Fields, Invalid, Kind, Memo, RowError, Table,
    INVALID_FIELDS,
};
use super::dates::{self, fold_key, is_null_token};
use super::pseudo::Pseudonymizer;

/// Source columns read (exact names of the export; matching ignores case,
/// accents and `_`/space). The others — `PRENOM`, `NOM`, `TELEPHONE`,
/// `ADRESSE RUE`, `VILLE`, `SALESFORCE ID`, `PROPRIETAIRE SF` — are never read.
const CUSTOMER_ID: usize = 0;
const CIVILITE: usize = 1;
const EMAIL: usize = 2;
const DATE_NAISSANCE: usize = 3;
const CODE_POSTAL: usize = 4;
const PAYS: usize = 5;
const STATUT: usize = 6;
const SEGMENT: usize = 7;
const LEAD_SCORE: usize = 8;
const CANAL: usize = 9;
const CATEGORIE: usize = 10;
const NB_COMMANDES: usize = 11;
const LTV: usize = 12;
const KYC_REQUIS: usize = 13;
const KYC_VALIDE: usize = 14;
const KYC_DATE: usize = 15;
const NEWSLETTER: usize = 16;
const DATE_CREATION: usize = 17;
const DATE_MODIFICATION: usize = 18;

const SOURCE_COLUMNS: [&str; 19] = [
    "CUSTOMER ID",
    "CIVILITE",
    "EMAIL",
    "DATE NAISSANCE",
    "CODE POSTAL",
    "PAYS",
    "STATUT",
    "SEGMENT CLIENT",
    "LEAD SCORE",
    "CANAL ACQUISITION",
    "CATEGORIE PREFEREE",
    "NB COMMANDES",
    "LIFETIME VALUE EUR",
    "KYC REQUIS",
    "KYC VALIDE",
    "KYC DATE VALIDATION",
    "NEWSLETTER OPTIN",
    "DATE CREATION CRM",
    "DATE MODIFICATION",
];

/// The silver table (order = docs/silver.md), before `bronze_key`, `bronze_line`.
pub const SCHEMA: &[(&str, Kind)] = &[
    ("customer_id", Kind::Str),
    ("email_hash", Kind::Str),
    ("civilite", Kind::Dict),
    ("age", Kind::I32),
    ("date_reference_age", Kind::Date),
    ("departement", Kind::Dict),
    ("pays", Kind::Dict),
    ("pays_inconnu", Kind::Bool),
    ("pays_source", Kind::Dict),
    ("statut", Kind::Dict),
    ("segment_client", Kind::Dict),
    ("lead_score", Kind::I32),
    ("canal_acquisition", Kind::Dict),
    ("categorie_preferee", Kind::Dict),
    ("nb_commandes", Kind::I32),
    ("lifetime_value_eur", Kind::F64),
    ("lifetime_value_negative", Kind::Bool),
    ("kyc_requis", Kind::Bool),
    ("kyc_valide", Kind::Bool),
    ("kyc_date_validation", Kind::Date),
    ("newsletter_optin", Kind::Bool),
    ("date_creation_crm", Kind::Timestamp),
    ("date_modification", Kind::Timestamp),
    (INVALID_FIELDS, Kind::Dict),
];

/// French (and a few English) country names → ISO 3166 alpha-2, by matching
/// key ([`dates::fold_key`]: case, accents, hyphens and extra spaces do not
/// matter, so `Royaume Uni`, `royaume-uni` and ` ROYAUME UNI ` all match).
const COUNTRY_NAMES: &[(&str, &str)] = &[
    ("france", "FR"),
    ("france metropolitaine", "FR"),
    ("belgique", "BE"),
    ("suisse", "CH"),
    ("allemagne", "DE"),
    ("espagne", "ES"),
    ("italie", "IT"),
    ("royaume uni", "GB"),
    ("grande bretagne", "GB"),
    ("angleterre", "GB"),
    ("pays bas", "NL"),
    ("hollande", "NL"),
    ("luxembourg", "LU"),
    ("portugal", "PT"),
    ("autriche", "AT"),
    ("irlande", "IE"),
    ("danemark", "DK"),
    ("suede", "SE"),
    ("norvege", "NO"),
    ("finlande", "FI"),
    ("islande", "IS"),
    ("pologne", "PL"),
    ("republique tcheque", "CZ"),
    ("tchequie", "CZ"),
    ("slovaquie", "SK"),
    ("hongrie", "HU"),
    ("slovenie", "SI"),
    ("croatie", "HR"),
    ("roumanie", "RO"),
    ("bulgarie", "BG"),
    ("grece", "GR"),
    ("chypre", "CY"),
    ("malte", "MT"),
    ("estonie", "EE"),
    ("lettonie", "LV"),
    ("lituanie", "LT"),
    ("monaco", "MC"),
    ("andorre", "AD"),
    ("liechtenstein", "LI"),
    ("saint marin", "SM"),
    ("serbie", "RS"),
    ("ukraine", "UA"),
    ("turquie", "TR"),
    ("russie", "RU"),
    ("maroc", "MA"),
    ("algerie", "DZ"),
    ("tunisie", "TN"),
    ("senegal", "SN"),
    ("cote d ivoire", "CI"),
    ("etats unis", "US"),
    ("etats unis d amerique", "US"),
    ("canada", "CA"),
    ("mexique", "MX"),
    ("bresil", "BR"),
    ("chine", "CN"),
    ("japon", "JP"),
    ("inde", "IN"),
    ("israel", "IL"),
    ("australie", "AU"),
    ("guadeloupe", "GP"),
    ("martinique", "MQ"),
    ("guyane", "GF"),
    ("la reunion", "RE"),
    ("reunion", "RE"),
    ("mayotte", "YT"),
    ("nouvelle caledonie", "NC"),
    ("polynesie francaise", "PF"),
    ("united kingdom", "GB"),
    ("uk", "GB"),
    ("germany", "DE"),
    ("spain", "ES"),
    ("italy", "IT"),
    ("netherlands", "NL"),
    ("belgium", "BE"),
    ("switzerland", "CH"),
    ("united states", "US"),
    ("usa", "US"),
];

/// ISO alpha-2 of a country written as a (French) name or as a code of the
/// table; `None` for anything else (`Frnace`, `Inconnu`, `N/A`, empty).
pub fn country_iso(raw: &str) -> Option<&'static str> {
    let mut key = String::with_capacity(raw.len());
    fold_key(raw, &mut key);
    if let Some(&(_, iso)) = COUNTRY_NAMES.iter().find(|(name, _)| *name == key) {
        return Some(iso);
    }
    if key.len() == 2 {
        let up = key.to_ascii_uppercase();
        return COUNTRY_NAMES
            .iter()
            .map(|&(_, iso)| iso)
            .find(|iso| *iso == up);
    }
    None
}

/// The French département of a postal code (`75018` → `75`, `97411` → `974`);
/// `None` for a value that is not a French postal code. Corsican codes give
/// `20` (2A and 2B cannot be told apart reliably from the postal code).
pub fn departement(postal: &str) -> Option<&str> {
    let p = postal.trim();
    if p.len() != 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(if p.starts_with("97") || p.starts_with("98") {
        &p[..3]
    } else {
        &p[..2]
    })
}

/// `M.`, `Mme`, `Mlle` for the usual spellings; anything else kept trimmed.
fn civilite(raw: &str) -> Option<String> {
    let t = raw.trim();
    if is_null_token(t) {
        return None;
    }
    let mut key = String::new();
    fold_key(t, &mut key);
    Some(
        match key.as_str() {
            "m" | "mr" | "monsieur" => "M.",
            "mme" | "madame" => "Mme",
            "mlle" | "mademoiselle" => "Mlle",
            _ => t,
        }
        .to_string(),
    )
}

/// `crm/pays=FR` (`crm/pays=__null__` for an unknown country).
pub fn partition_of(iso: Option<&str>) -> String {
    format!(
        "crm/{}",
        crate::table::partition_path(&[("pays", iso.unwrap_or(""))])
    )
}

/// The CRM export as the stage reads it (parsing state and memos).
#[derive(Clone)]
pub struct CrmRows {
    pseudo: Pseudonymizer,
    today: NaiveDate,
    countries: Memo<Option<&'static str>>,
    partitions: PlHashMap<Option<&'static str>, Arc<str>>,
    inv: Invalid,
}

impl CrmRows {
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> CrmRows {
        CrmRows {
            pseudo,
            today,
            countries: Memo::new(10_000),
            partitions: PlHashMap::default(),
            inv: Invalid::default(),
        }
    }
}

impl CsvRows for CrmRows {
    const NAME: &'static str = "crm";
    const TABLES: &'static [&'static str] = &["crm"];
    const SEPARATOR: u8 = b',';
    const COLUMNS: &'static [&'static str] = &SOURCE_COLUMNS;
    const REQUIRED: &'static [usize] = &[CUSTOMER_ID, DATE_MODIFICATION];
    const SCHEMA: &'static [(&'static str, Kind)] = SCHEMA;
    const RANKED: bool = true;

    fn admit<'a>(&mut self, f: &Fields<'a>) -> Result<Admit<'a>, RowError> {
        let key = value(f.get(CUSTOMER_ID)).ok_or(("CUSTOMER ID", "missing".into()))?;
        let modified = f.get(DATE_MODIFICATION);
        let ms = dates::parse_timestamp_ms(modified).ok_or_else(|| {
            let why = if is_null_token(modified) {
                "missing (needed to keep the most recent row)"
            } else {
                "not a date and time"
            };
            ("DATE MODIFICATION", why.to_string())
        })?;
        let iso = *self.countries.get(f.get(PAYS), country_iso);
        let partition = self
            .partitions
            .entry(iso)
            .or_insert_with(|| partition_of(iso).into())
            .clone();
        Ok(Admit {
            key,
            partition,
            primary: Some(ms),
        })
    }

    fn build(&mut self, f: &Fields<'_>, t: &mut Table) -> bool {
        let get = |c: usize| f.get(c);
        let inv = &mut self.inv;
        inv.clear();
        let iso = *self.countries.get(get(PAYS), country_iso);
        t.str(
            value(get(CUSTOMER_ID))
                .map(|c| self.pseudo.pseudo(c))
                .as_deref(),
        );
        t.str(
            value(get(EMAIL))
                .and_then(|e| self.pseudo.email(Some(e)))
                .as_deref(),
        );
        t.dict(civilite(get(CIVILITE)).as_deref());
        let birth = typed(
            get(DATE_NAISSANCE),
            "DATE NAISSANCE",
            inv,
            dates::parse_date,
        );
        let age = birth.and_then(|b| {
            let a = dates::age_years(b, self.today).filter(|a| *a <= 130);
            if a.is_none() {
                inv.add("DATE NAISSANCE");
            }
            a
        });
        t.i32(age);
        t.date(age.map(|_| self.today));
        let dept = match (iso, value(get(CODE_POSTAL))) {
            (Some("FR"), Some(p)) => {
                let d = departement(p);
                if d.is_none() {
                    inv.add("CODE POSTAL");
                }
                d
            }
            _ => None,
        };
        t.dict(dept);
        t.dict(iso);
        t.bool(Some(iso.is_none()));
        t.dict(unmapped(iso, get(PAYS)));
        t.dict(value(get(STATUT)));
        t.dict(value(get(SEGMENT)));
        t.i32(typed(get(LEAD_SCORE), "LEAD SCORE", inv, parse_i32));
        t.dict(value(get(CANAL)));
        t.dict(value(get(CATEGORIE)));
        t.i32(typed(get(NB_COMMANDES), "NB COMMANDES", inv, parse_i32));
        let ltv = typed(get(LTV), "LIFETIME VALUE EUR", inv, dates::parse_decimal);
        let negative = ltv.is_some_and(|v| v < 0.0);
        t.f64(ltv);
        t.bool(Some(negative));
        t.bool(typed(get(KYC_REQUIS), "KYC REQUIS", inv, dates::parse_bool));
        t.bool(typed(get(KYC_VALIDE), "KYC VALIDE", inv, dates::parse_bool));
        t.date(typed(
            get(KYC_DATE),
            "KYC DATE VALIDATION",
            inv,
            dates::parse_date,
        ));
        t.bool(typed(
            get(NEWSLETTER),
            "NEWSLETTER OPTIN",
            inv,
            dates::parse_bool,
        ));
        // A timestamp: the time of day when the export has one (UTC when it
        // carries no offset), midnight for a bare date.
        t.timestamp(typed(
            get(DATE_CREATION),
            "DATE CREATION CRM",
            inv,
            dates::parse_timestamp_ms,
        ));
        t.timestamp(dates::parse_timestamp_ms(get(DATE_MODIFICATION)));
        let invalid = inv.joined();
        t.dict(invalid.as_deref());
        iso.is_none() || negative || invalid.is_some()
    }
}

/// The raw country text (trimmed) when it could not be mapped, for the data
/// steward who extends the table; `None` when mapped or empty.
pub fn unmapped<'a>(iso: Option<&str>, raw: &'a str) -> Option<&'a str> {
    let t = raw.trim();
    (iso.is_none() && !t.is_empty()).then_some(t)
}

/// An `i32` (integers written `12` or `12,0`).
pub fn parse_i32(s: &str) -> Option<i32> {
    dates::parse_int(s).and_then(|v| i32::try_from(v).ok())
}

/// The runner's view of the crm source.
pub type CrmSource = CsvSource<CrmRows>;

impl CrmSource {
    /// `today` is the run's date in Europe/Paris (the reference date of ages, OQ-38).
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> CrmSource {
        CsvSource::with_rows(CrmRows::new(pseudo, today))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silver::csv::unreadable_verdict;
    use crate::silver::runner::Source;
    use crate::silver::{Counts, Input, Reject};
    use polars::prelude::*;
    use std::collections::BTreeSet;

    const HEADER: &str = "SALESFORCE ID,CUSTOMER ID,CIVILITE,PRENOM,NOM,EMAIL,TELEPHONE,DATE NAISSANCE,ADRESSE RUE,VILLE,CODE POSTAL,PAYS,STATUT,SEGMENT CLIENT,LEAD SCORE,CANAL ACQUISITION,CATEGORIE PREFEREE,NB COMMANDES,LIFETIME VALUE EUR,KYC REQUIS,KYC VALIDE,KYC DATE VALIDATION,NEWSLETTER OPTIN,DATE CREATION CRM,DATE MODIFICATION,PROPRIETAIRE SF";

    fn row(id: &str, pays: &str, ltv: &str, modified: &str) -> String {
        format!(
            "0035g0000NH4o1h,{id},Mme,Aurélie,Lecomte,Aurelie_Lecomte70.9@sfr.fr ,0655680872,26/01/1977,22 rue Foch,Bordeaux,33000,{pays},Actif,Bronze,624,Site web,Maison,11,{ltv},true,,04/11/2025,Oui,2025-08-05,{modified},Yves Castelnau"
        )
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 17).unwrap()
    }

    fn source() -> CrmSource {
        CrmSource::new(Pseudonymizer::new(b"test-key"), today())
    }

    fn input(key: &str) -> Input {
        crate::silver::runner::testing::input(key)
    }

    /// Run objects through the source as the runner does; frames by partition.
    fn run(objects: &[(&str, String)]) -> (Vec<(String, DataFrame)>, Counts, Vec<Reject>) {
        let fed = crate::silver::runner::testing::feed(&mut source(), objects);
        (fed.frames, fed.counts, fed.rejects)
    }

    fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn countries_map_to_iso_whatever_the_spelling() {
        for s in [
            "France", " france ", "FRANCE", "France ", "france", "FR", "fr",
        ] {
            assert_eq!(country_iso(s), Some("FR"), "{s:?}");
        }
        for s in ["Royaume Uni", "Royaume-Uni", "ROYAUME-UNI", " royaume uni "] {
            assert_eq!(country_iso(s), Some("GB"), "{s:?}");
        }
        assert_eq!(country_iso("Pays Bas"), Some("NL"));
        assert_eq!(country_iso("Suède"), Some("SE"));
        for s in [
            "Frnace",
            "Fance",
            "Belgiqe",
            "Allemagen",
            "Inconnu",
            "N/A",
            "",
            "XX",
        ] {
            assert_eq!(country_iso(s), None, "{s:?}");
        }
    }

    #[test]
    fn departements() {
        assert_eq!(departement("75018"), Some("75"));
        assert_eq!(departement("06000"), Some("06"));
        assert_eq!(departement("97411"), Some("974"));
        assert_eq!(departement("20000"), Some("20"));
        assert!(departement("1000").is_none());
        assert!(departement("SW1A 1AA").is_none());
    }

    #[test]
    fn bom_header_and_a_clean_row() {
        let body = format!(
            "\u{feff}{HEADER}\n{}\n",
            row("CUST-000009", "France", "957.00", "2026-02-19 03:48:49")
        );
        let (out, counts, rejects) = run(&[("bronze/crm_data/a.csv", body)]);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!((counts.rows_in, counts.rows_out, counts.flagged), (1, 1, 0));
        assert_eq!(out.len(), 1);
        let (p, df) = &out[0];
        assert_eq!(p, "crm/pays=FR");
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let expected: Vec<String> = SCHEMA
            .iter()
            .map(|(n, _)| n.to_string())
            .chain(["bronze_key".into(), "bronze_line".into()])
            .collect();
        assert_eq!(names, expected);
        let pseudo = Pseudonymizer::new(b"test-key");
        assert_eq!(
            strs(df, "customer_id")[0],
            Some(pseudo.pseudo("CUST-000009"))
        );
        assert_eq!(
            strs(df, "email_hash")[0],
            Some(pseudo.pseudo("aurelie_lecomte70.9@sfr.fr"))
        );
        assert_eq!(df.column("age").unwrap().i32().unwrap().get(0), Some(49));
        assert_eq!(strs(df, "departement")[0].as_deref(), Some("33"));
        assert_eq!(strs(df, "civilite")[0].as_deref(), Some("Mme"));
        assert_eq!(
            df.column("kyc_requis").unwrap().bool().unwrap().get(0),
            Some(true)
        );
        assert_eq!(
            df.column("kyc_valide").unwrap().bool().unwrap().get(0),
            None
        );
        assert_eq!(
            df.column("newsletter_optin")
                .unwrap()
                .bool()
                .unwrap()
                .get(0),
            Some(true)
        );
        assert_eq!(
            df.column("kyc_date_validation").unwrap().dtype(),
            &DataType::Date
        );
        assert_eq!(
            df.column("kyc_date_validation")
                .unwrap()
                .get(0)
                .unwrap()
                .to_string(),
            "2025-11-04"
        );
        assert_eq!(strs(df, INVALID_FIELDS)[0], None);
        assert_eq!(
            df.column("bronze_line").unwrap().i64().unwrap().get(0),
            Some(2)
        );
        // Nothing personal survives.
        let dump = format!("{df:?}");
        for pii in [
            "Aurélie",
            "Lecomte",
            "0655680872",
            "Foch",
            "Castelnau",
            "Bordeaux",
            "sfr.fr",
            "1977",
            "0035g",
        ] {
            assert!(!dump.contains(pii), "{pii} leaked");
        }
    }

    /// Regression (issue 7): `DATE CREATION CRM` lost its time of day.
    #[test]
    fn creation_keeps_its_time_of_day() {
        let body = format!(
            "{HEADER}\n{}\n{}\n",
            row("C1", "France", "10", "2026-03-01 10:00:00"),
            row("C2", "France", "10", "2026-03-01 10:00:00")
                .replace(",2025-08-05,", ",2025-08-05T14:30:15+02:00,")
        );
        let (frames, _, rejects) = run(&[("bronze/crm_data/a.csv", body)]);
        assert!(rejects.is_empty(), "{rejects:?}");
        let df = &frames[0].1;
        let c = df.column("date_creation_crm").unwrap();
        let ms: Vec<Option<i64>> = c.datetime().unwrap().phys.iter().collect();
        assert_eq!(
            ms,
            [Some(1_754_352_000_000), Some(1_754_397_015_000)],
            "midnight for a bare date; 12:30:15Z for 14:30:15+02:00"
        );
    }

    #[test]
    fn duplicates_keep_the_most_recent_modification_then_the_later_export() {
        let a = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("CUST-1", "France", "10.00", "2026-01-01 00:00:00"),
            row("CUST-1", "France", "20.00", "2026-02-01 00:00:00"),
            row("CUST-2", "Belgique", "5.00", "2026-02-01 00:00:00"),
        );
        let b = format!(
            "{HEADER}\n{}\n{}\n",
            // Older than the first export's row: loses despite the later file.
            row("CUST-1", "France", "30.00", "2026-01-15 00:00:00"),
            // Same date: the later export wins.
            row("CUST-2", "Belgique", "6.00", "2026-02-01 00:00:00"),
        );
        // Processing order must not matter.
        for order in [[0, 1], [1, 0]] {
            let objs = [
                ("bronze/crm_data/crm_export_2026-03-09.x.csv", a.clone()),
                ("bronze/crm_data/crm_export_2026-03-16.x.csv", b.clone()),
            ];
            let (out, counts, _) = run(&[objs[order[0]].clone(), objs[order[1]].clone()]);
            assert_eq!(counts.deduplicated, 3);
            let get = |p: &str| {
                out.iter()
                    .find(|(q, _)| q == p)
                    .map(|(_, d)| {
                        d.column("lifetime_value_eur")
                            .unwrap()
                            .f64()
                            .unwrap()
                            .get(0)
                    })
                    .unwrap()
            };
            assert_eq!(get("crm/pays=FR"), Some(20.0));
            assert_eq!(get("crm/pays=BE"), Some(6.0));
        }
    }

    #[test]
    fn unknown_countries_and_negative_values_are_kept_and_flagged() {
        let body = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row("CUST-1", "Frnace", "10.00", "2026-01-01 00:00:00"),
            row("CUST-2", "N/A", "10.00", "2026-01-01 00:00:00"),
            row("CUST-3", " FRANCE ", "-120.50", "2026-01-01 00:00:00"),
        );
        let (out, counts, rejects) = run(&[("k", body)]);
        assert!(rejects.is_empty());
        assert_eq!(counts.flagged, 3);
        let null = &out
            .iter()
            .find(|(p, _)| p == "crm/pays=__null__")
            .unwrap()
            .1;
        assert_eq!(null.height(), 2);
        assert_eq!(
            null.column("pays_inconnu")
                .unwrap()
                .bool()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            [Some(true), Some(true)]
        );
        let mut sources: Vec<_> = strs(null, "pays_source").into_iter().flatten().collect();
        sources.sort();
        assert_eq!(sources, ["Frnace", "N/A"]);
        let fr = &out.iter().find(|(p, _)| p == "crm/pays=FR").unwrap().1;
        assert_eq!(
            fr.column("lifetime_value_eur")
                .unwrap()
                .f64()
                .unwrap()
                .get(0),
            Some(-120.5)
        );
        assert_eq!(
            fr.column("lifetime_value_negative")
                .unwrap()
                .bool()
                .unwrap()
                .get(0),
            Some(true)
        );
    }

    #[test]
    fn unreadable_rows_are_rejected_with_their_line() {
        let good = row("CUST-1", "France", "1.00", "2026-01-01 00:00:00");
        let body = format!(
            "{HEADER}\n{good}\n{good},extra\nshort,row\n{}\n{}\n{}\n",
            row("", "France", "1.00", "2026-01-01 00:00:00"),
            row("CUST-4", "France", "1.00", ""),
            row("CUST-5", "France", "abc", "2026-01-01 00:00:00"),
        );
        let (out, counts, rejects) = run(&[("bronze/crm_data/x.csv", body)]);
        let got: Vec<(u64, &str)> = rejects.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "line"),
                (4, "line"),
                (5, "CUSTOMER ID"),
                (6, "DATE MODIFICATION")
            ]
        );
        assert!(
            rejects[0].reason.contains("27 fields"),
            "{}",
            rejects[0].reason
        );
        assert_eq!(counts.rows_in, 6);
        assert_eq!(counts.rejected, 4);
        // An unreadable optional value is nulled and named, not rejected.
        let df = &out[0].1;
        assert_eq!(df.height(), 2);
        let inv = strs(df, INVALID_FIELDS);
        assert!(
            inv.contains(&Some("LIFETIME VALUE EUR".to_string())),
            "{inv:?}"
        );
        assert_eq!(counts.flagged, 1);
    }

    #[test]
    fn a_header_without_the_key_rejects_every_row_and_says_no() {
        let body = "PAYS,EMAIL\nFrance,a@b.c\nFrance,d@e.f\n";
        let (out, counts, rejects) = run(&[("k", body.to_string())]);
        assert!(out.is_empty());
        assert_eq!((counts.rows_in, counts.rejected), (2, 2));
        assert_eq!(rejects[0].field, "CUSTOMER ID");
        assert!(unreadable_verdict(&input("k"), &counts).is_some());
    }

    #[test]
    fn keep_limits_the_partitions_built_but_not_the_dedup() {
        let old = format!(
            "{HEADER}\n{}\n",
            row("CUST-1", "Belgique", "1.00", "2026-01-01 00:00:00")
        );
        let new = format!(
            "{HEADER}\n{}\n",
            row("CUST-1", "France", "2.00", "2026-02-01 00:00:00")
        );
        let mut src = source();
        let mut rejects = Vec::new();
        let keep: BTreeSet<String> = ["crm/pays=BE".to_string()].into();
        let mut seen = BTreeSet::new();
        src.process(
            &input("b"),
            1,
            new.as_bytes(),
            Some(&keep),
            &mut seen,
            &mut rejects,
        )
        .unwrap();
        assert!(seen.contains("crm/pays=FR"));
        src.process(
            &input("a"),
            1,
            old.as_bytes(),
            Some(&keep),
            &mut seen,
            &mut rejects,
        )
        .unwrap();
        // The customer moved to FR (a partition not rewritten): BE loses it.
        let out = src.take(true).unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(src.finish_counts().deduplicated, 1);
    }
}
