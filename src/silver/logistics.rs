//! `kvt silver logistics`: the carrier partner's 4-hourly files →
//! `silver/logistics/pays_destination=XX/mois_expedition=YYYY-MM/`
//! (SPEC §3.7, SILVER-LOG-1..9).
//!
//! A row is the state of one parcel (`livraison_id`) after an update; a parcel
//! comes back in later files with its newer state, so the run keeps, per
//! parcel, the row of the latest file (bronze key order: the files are named
//! by their window), then the later row in that file (OQ-17). Dates,
//! decimals and booleans are read from their shape whatever the carrier
//! ([`super::dates`]); statuses are lower-cased (Unicode), trimmed and their
//! inner spaces collapsed; aberrant attempt counts are capped and flagged, as
//! are impossible date orders; deliveries without an actual date are kept as
//! in progress. The courier's comment and the destination city never reach
//! silver; the customer id and the tracking number are pseudonymised (C6).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use polars::prelude::PlHashMap;

use super::crm::{country_iso, departement, parse_i32, unmapped};
use super::csv::{
    typed, value, Admit, CsvRows, CsvSource, Fields, Invalid, Kind, Memo, RowError, Table,
    INVALID_FIELDS,
};
use super::dates::{self, fold_key, normalize_label};
use super::pseudo::Pseudonymizer;

const LIVRAISON_ID: usize = 0;
const ORDER_ID: usize = 1;
const CUSTOMER_ID: usize = 2;
const TRANSPORTEUR: usize = 3;
const NUMERO_SUIVI: usize = 4;
const STATUT: usize = 5;
const ENTREPOT: usize = 6;
const PAYS: usize = 7;
const CODE_POSTAL: usize = 8;
const POIDS: usize = 9;
const LONGUEUR: usize = 10;
const LARGEUR: usize = 11;
const HAUTEUR: usize = 12;
const FRAIS: usize = 13;
const DATE_COMMANDE: usize = 14;
const DATE_EXPEDITION: usize = 15;
const DATE_PREVUE: usize = 16;
const DATE_REELLE: usize = 17;
const RETARD: usize = 18;
const SIGNATURE: usize = 19;
const TENTATIVES: usize = 20;
const MOTIF: usize = 21;
const ASSURANCE: usize = 22;

/// Source columns read. `ville_destination` and `commentaire_livreur` are
/// never read (SILVER-LOG-7, OQ-9 for the city).
const SOURCE_COLUMNS: [&str; 23] = [
    "livraison_id",
    "order_id",
    "customer_id",
    "transporteur",
    "numero_suivi",
    "statut_livraison",
    "entrepot_depart",
    "pays_destination",
    "code_postal_dest",
    "poids_kg",
    "longueur_cm",
    "largeur_cm",
    "hauteur_cm",
    "frais_livraison_eur",
    "date_commande",
    "date_expédition",
    "date_livraison_prevue",
    "date_livraison_reelle",
    "retard_jours",
    "signature_requise",
    "tentatives_livraison",
    "motif_echec_retour",
    "assurance",
];

/// Attempts above this are data-entry errors (SILVER-LOG-2: "beyond ten").
pub const MAX_ATTEMPTS: i32 = 10;

/// The silver table (order = docs/silver.md), before `bronze_key`, `bronze_line`.
pub const SCHEMA: &[(&str, Kind)] = &[
    ("livraison_id", Kind::Str),
    ("order_id", Kind::Str),
    ("customer_id", Kind::Dict),
    ("transporteur", Kind::Dict),
    ("numero_suivi_hash", Kind::Str),
    ("statut_livraison", Kind::Dict),
    ("entrepot_depart", Kind::Dict),
    ("departement_destination", Kind::Dict),
    ("pays_destination", Kind::Dict),
    ("pays_inconnu", Kind::Bool),
    ("pays_source", Kind::Dict),
    ("mois_expedition", Kind::Dict),
    ("poids_kg", Kind::F64),
    ("longueur_cm", Kind::I32),
    ("largeur_cm", Kind::I32),
    ("hauteur_cm", Kind::I32),
    ("frais_livraison_eur", Kind::F64),
    ("date_commande", Kind::Date),
    ("date_expedition", Kind::Date),
    ("date_livraison_prevue", Kind::Date),
    ("date_livraison_reelle", Kind::Date),
    ("en_cours", Kind::Bool),
    ("retard_jours", Kind::I32),
    ("delai_livraison_jours_ouvres", Kind::I32),
    ("ordre_dates_incoherent", Kind::Bool),
    ("signature_requise", Kind::Bool),
    ("tentatives_livraison", Kind::I32),
    ("tentatives_livraison_origine", Kind::I32),
    ("tentatives_suspectes", Kind::Bool),
    ("motif_echec_retour", Kind::Dict),
    ("assurance", Kind::Bool),
    (INVALID_FIELDS, Kind::Dict),
];

/// The six statuses, by matching key (OQ-17).
const STATUSES: &[(&str, &str)] = &[
    ("expedie", "expédié"),
    ("en transit", "en transit"),
    ("en cours de livraison", "en cours de livraison"),
    ("echec de livraison", "échec de livraison"),
    ("livre", "livré"),
    ("retourne", "retourné"),
];

/// SILVER-LOG-1: a status lower-cased (Unicode), trimmed, inner spaces
/// collapsed; the six known statuses also get their accents back (`LIVRE`,
/// `Livré`, ` livré ` → `livré`). Other values are kept in that normal form.
pub fn canonical_status(raw: &str) -> String {
    let mut key = String::with_capacity(raw.len());
    fold_key(raw, &mut key);
    match STATUSES.iter().find(|(k, _)| *k == key) {
        Some((_, canon)) => (*canon).to_string(),
        None => normalize_label(raw),
    }
}

/// SILVER-LOG-2: (capped value, suspect) of an attempt count.
pub fn cap_attempts(n: i32) -> (i32, bool) {
    if n > MAX_ATTEMPTS {
        (MAX_ATTEMPTS, true)
    } else {
        (n, false)
    }
}

/// `logistics/pays_destination=FR/mois_expedition=2026-03`.
pub fn partition_of(iso: Option<&str>, shipped: NaiveDate) -> String {
    format!(
        "logistics/{}",
        crate::table::partition_path(&[
            ("pays_destination", iso.unwrap_or("")),
            ("mois_expedition", &dates::year_month(shipped)),
        ])
    )
}

/// The partner's files as the stage reads them (parsing state and memos).
#[derive(Clone)]
pub struct LogisticsRows {
    pseudo: Pseudonymizer,
    countries: Memo<Option<&'static str>>,
    partitions: PlHashMap<(Option<&'static str>, i32), Arc<str>>,
    months: PlHashMap<i32, Arc<str>>,
    inv: Invalid,
}

impl LogisticsRows {
    pub fn new(pseudo: Pseudonymizer) -> LogisticsRows {
        LogisticsRows {
            pseudo,
            countries: Memo::new(10_000),
            partitions: PlHashMap::default(),
            months: PlHashMap::default(),
            inv: Invalid::default(),
        }
    }
}

fn month_key(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

impl CsvRows for LogisticsRows {
    const NAME: &'static str = "logistics";
    const TABLES: &'static [&'static str] = &["logistics"];
    const SEPARATOR: u8 = b';';
    const COLUMNS: &'static [&'static str] = &SOURCE_COLUMNS;
    const REQUIRED: &'static [usize] = &[LIVRAISON_ID, DATE_EXPEDITION];
    const SCHEMA: &'static [(&'static str, Kind)] = SCHEMA;

    fn admit<'a>(&mut self, f: &Fields<'a>) -> Result<Admit<'a>, RowError> {
        let key = value(f.get(LIVRAISON_ID)).ok_or(("livraison_id", "missing".into()))?;
        let raw = f.get(DATE_EXPEDITION);
        let shipped = dates::parse_date(raw).ok_or_else(|| {
            let why = if dates::is_null_token(raw) {
                "missing (the partition's shipping month)"
            } else {
                "not a date"
            };
            ("date_expédition", why.to_string())
        })?;
        let iso = *self.countries.get(f.get(PAYS), country_iso);
        let partition = self
            .partitions
            .entry((iso, month_key(shipped)))
            .or_insert_with(|| partition_of(iso, shipped).into())
            .clone();
        Ok(Admit {
            key,
            partition,
            primary: None,
        })
    }

    fn build(&mut self, f: &Fields<'_>, t: &mut Table) -> bool {
        let get = |c: usize| f.get(c);
        let inv = &mut self.inv;
        inv.clear();
        // Admitted rows have a shipping date.
        let shipped = dates::parse_date(get(DATE_EXPEDITION)).unwrap_or_default();
        let iso = *self.countries.get(get(PAYS), country_iso);
        t.str(value(get(LIVRAISON_ID)));
        t.str(value(get(ORDER_ID)));
        let pseudo = &self.pseudo;
        t.dict_with(value(get(CUSTOMER_ID)), |c| pseudo.pseudo(c));
        t.dict(value(get(TRANSPORTEUR)));
        t.str(
            value(get(NUMERO_SUIVI))
                .map(|n| pseudo.pseudo(n))
                .as_deref(),
        );
        t.dict_with(value(get(STATUT)), canonical_status);
        t.dict(value(get(ENTREPOT)));
        let dept = match (iso, value(get(CODE_POSTAL))) {
            (Some("FR"), Some(p)) => {
                let d = departement(p);
                if d.is_none() {
                    inv.add("code_postal_dest");
                }
                d
            }
            _ => None,
        };
        t.dict(dept);
        t.dict(iso);
        t.bool(Some(iso.is_none()));
        t.dict(unmapped(iso, get(PAYS)));
        let month = self
            .months
            .entry(month_key(shipped))
            .or_insert_with(|| dates::year_month(shipped).into());
        t.dict(Some(month));
        t.f64(typed(get(POIDS), "poids_kg", inv, dates::parse_decimal));
        t.i32(typed(get(LONGUEUR), "longueur_cm", inv, parse_i32));
        t.i32(typed(get(LARGEUR), "largeur_cm", inv, parse_i32));
        t.i32(typed(get(HAUTEUR), "hauteur_cm", inv, parse_i32));
        t.f64(typed(
            get(FRAIS),
            "frais_livraison_eur",
            inv,
            dates::parse_decimal,
        ));
        let ordered = typed(get(DATE_COMMANDE), "date_commande", inv, dates::parse_date);
        let promised = typed(
            get(DATE_PREVUE),
            "date_livraison_prevue",
            inv,
            dates::parse_date,
        );
        let delivered = typed(
            get(DATE_REELLE),
            "date_livraison_reelle",
            inv,
            dates::parse_date,
        );
        t.date(ordered);
        t.date(Some(shipped));
        t.date(promised);
        t.date(delivered);
        t.bool(Some(delivered.is_none()));
        t.i32(typed(get(RETARD), "retard_jours", inv, parse_i32));
        // C7: order ≤ shipping ≤ delivery.
        let disordered =
            ordered.is_some_and(|o| o > shipped) || delivered.is_some_and(|d| d < shipped);
        t.i32(
            delivered
                .filter(|_| !disordered)
                .map(|d| dates::business_days(shipped, d) as i32),
        );
        t.bool(Some(disordered));
        t.bool(typed(
            get(SIGNATURE),
            "signature_requise",
            inv,
            dates::parse_bool,
        ));
        let attempts = typed(get(TENTATIVES), "tentatives_livraison", inv, |s| {
            parse_i32(s).filter(|n| *n >= 0)
        });
        let capped = attempts.map(cap_attempts);
        let suspect = capped.is_some_and(|c| c.1);
        t.i32(capped.map(|c| c.0));
        t.i32(attempts);
        t.bool(Some(suspect));
        t.dict(value(get(MOTIF)));
        t.bool(typed(get(ASSURANCE), "assurance", inv, dates::parse_bool));
        let invalid = inv.joined();
        t.dict(invalid.as_deref());
        suspect || disordered || iso.is_none() || invalid.is_some()
    }
}

/// The runner's view of the logistics source.
pub type LogisticsSource = CsvSource<LogisticsRows>;

impl LogisticsSource {
    /// `today` is not used: nothing in this source depends on the run date.
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> LogisticsSource {
        let _ = today;
        CsvSource::with_rows(LogisticsRows::new(pseudo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silver::{Counts, Reject};
    use polars::prelude::*;

    const HEADER: &str = "livraison_id;order_id;customer_id;transporteur;numero_suivi;statut_livraison;entrepot_depart;ville_destination;pays_destination;code_postal_dest;poids_kg;longueur_cm;largeur_cm;hauteur_cm;frais_livraison_eur;date_commande;date_expédition;date_livraison_prevue;date_livraison_reelle;retard_jours;signature_requise;tentatives_livraison;motif_echec_retour;assurance;commentaire_livreur";

    struct Row<'a> {
        id: &'a str,
        pays: &'a str,
        carrier: &'a str,
        status: &'a str,
        dates: [&'a str; 4],
        decimals: [&'a str; 2],
        bools: [&'a str; 2],
        attempts: &'a str,
    }

    fn row(r: &Row) -> String {
        format!(
            "{};ORD-260311-000029;CUST-000007;{};6A71016094769;{};Lille-Lesquin;Tours;{};37000;{};54;27;10;{};{};{};{};{};0;{};{};;{};Remis à Jean Dupont 0612345678",
            r.id, r.carrier, r.status, r.pays, r.decimals[0], r.decimals[1], r.dates[0], r.dates[1], r.dates[2],
            r.dates[3], r.bools[0], r.attempts, r.bools[1]
        )
    }

    fn base(id: &str) -> Row<'_> {
        Row {
            id,
            pays: "FR",
            carrier: "Colissimo",
            status: "Livré",
            dates: ["2026-03-11", "2026-03-12", "2026-03-17", "2026-03-17"],
            decimals: ["1,33", "4,88"],
            bools: ["non", "oui"],
            attempts: "1",
        }
    }

    fn run(objects: &[(&str, String)]) -> (Vec<(String, DataFrame)>, Counts, Vec<Reject>) {
        let mut src = LogisticsSource::new(
            Pseudonymizer::new(b"test-key"),
            NaiveDate::from_ymd_opt(2026, 3, 17).unwrap(),
        );
        let fed = crate::silver::runner::testing::feed(&mut src, objects);
        (fed.frames, fed.counts, fed.rejects)
    }

    fn one(rows: &[Row]) -> DataFrame {
        let body = format!(
            "{HEADER}\n{}\n",
            rows.iter().map(row).collect::<Vec<_>>().join("\n")
        );
        let (out, _, rejects) = run(&[("bronze/logistic_partner_data/a.csv", body)]);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(
            out.len(),
            1,
            "{:?}",
            out.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        out.into_iter().next().unwrap().1
    }

    fn col<T>(df: &DataFrame, c: &str, f: impl Fn(&Column) -> Vec<T>) -> Vec<T> {
        f(df.column(c).unwrap())
    }
    fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
        col(df, c, |c| {
            c.str()
                .unwrap()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        })
    }
    fn ints(df: &DataFrame, c: &str) -> Vec<Option<i32>> {
        col(df, c, |c| c.i32().unwrap().iter().collect())
    }
    fn bools(df: &DataFrame, c: &str) -> Vec<Option<bool>> {
        col(df, c, |c| c.bool().unwrap().iter().collect())
    }
    fn dates_of(df: &DataFrame, c: &str) -> Vec<String> {
        let s = df.column(c).unwrap().as_materialized_series().clone();
        (0..s.len())
            .map(|i| s.get(i).unwrap().to_string())
            .collect()
    }

    #[test]
    fn statuses_are_canonical() {
        for s in [
            "Livré",
            "livré",
            "LIVRÉ",
            " Livré ",
            "livré ",
            "LIVRE",
            "Livre\u{301}",
        ] {
            assert_eq!(canonical_status(s), "livré", "{s:?}");
        }
        assert_eq!(canonical_status("En  transit"), "en transit");
        assert_eq!(
            canonical_status(" EN COURS DE LIVRAISON "),
            "en cours de livraison"
        );
        assert_eq!(canonical_status("Échec de livraison"), "échec de livraison");
        assert_eq!(
            canonical_status("ÉCHEC  DE LIVRAISON"),
            "échec de livraison"
        );
        assert_eq!(canonical_status("Expédié"), "expédié");
        assert_eq!(canonical_status("Retourné"), "retourné");
        assert_eq!(canonical_status(" Perdu  EN Route "), "perdu en route");
    }

    #[test]
    fn attempts_are_capped_above_ten_only() {
        assert_eq!(cap_attempts(300), (10, true));
        assert_eq!(cap_attempts(11), (10, true));
        assert_eq!(cap_attempts(10), (10, false));
        assert_eq!(cap_attempts(1), (1, false));
        let df = one(&[
            Row {
                attempts: "300",
                ..base("LIV-1")
            },
            Row {
                attempts: "10",
                ..base("LIV-2")
            },
            Row {
                attempts: "2",
                ..base("LIV-3")
            },
        ]);
        assert_eq!(
            ints(&df, "tentatives_livraison"),
            [Some(10), Some(10), Some(2)]
        );
        assert_eq!(
            ints(&df, "tentatives_livraison_origine"),
            [Some(300), Some(10), Some(2)]
        );
        assert_eq!(
            bools(&df, "tentatives_suspectes"),
            [Some(true), Some(false), Some(false)]
        );
    }

    #[test]
    fn carrier_formats_are_all_read() {
        let df = one(&[
            base("LIV-1"),
            Row {
                carrier: "Chronopost",
                dates: ["11/03/2026", "12/03/2026", "17/03/2026", "17/03/2026"],
                ..base("LIV-2")
            },
            Row {
                carrier: "DHL",
                dates: [
                    "2026-03-11",
                    "2026-03-12T14:05:00",
                    "2026-03-17",
                    "2026-03-17",
                ],
                decimals: ["1.33", "4.88"],
                bools: ["false", "true"],
                ..base("LIV-3")
            },
            Row {
                carrier: "UPS",
                dates: ["11-03-2026", "12-03-2026", "17-03-2026", "17-03-2026"],
                decimals: ["1.33", "4.88"],
                bools: ["false", "true"],
                ..base("LIV-4")
            },
            Row {
                carrier: "Mondial Relay",
                dates: ["11/03/2026", "12/03/2026", "17/03/2026", "17/03/2026"],
                bools: ["N", "O"],
                ..base("LIV-5")
            },
            Row {
                carrier: "DPD",
                decimals: ["1.33", "4.88"],
                bools: ["0", "1"],
                ..base("LIV-6")
            },
        ]);
        assert_eq!(df.height(), 6);
        for c in [
            "date_commande",
            "date_expedition",
            "date_livraison_prevue",
            "date_livraison_reelle",
        ] {
            assert_eq!(df.column(c).unwrap().dtype(), &DataType::Date);
        }
        assert!(dates_of(&df, "date_expedition")
            .iter()
            .all(|d| d == "2026-03-12"));
        assert!(dates_of(&df, "date_livraison_reelle")
            .iter()
            .all(|d| d == "2026-03-17"));
        assert!(col(&df, "poids_kg", |c| c
            .f64()
            .unwrap()
            .iter()
            .collect::<Vec<_>>())
        .iter()
        .all(|v| *v == Some(1.33)));
        assert!(col(&df, "frais_livraison_eur", |c| c
            .f64()
            .unwrap()
            .iter()
            .collect::<Vec<_>>())
        .iter()
        .all(|v| *v == Some(4.88)));
        assert!(bools(&df, "signature_requise")
            .iter()
            .all(|v| *v == Some(false)));
        assert!(bools(&df, "assurance").iter().all(|v| *v == Some(true)));
        // 12 → 17 March 2026: Fri 13, Mon 16, Tue 17.
        assert!(ints(&df, "delai_livraison_jours_ouvres")
            .iter()
            .all(|v| *v == Some(3)));
        assert!(strs(&df, INVALID_FIELDS).iter().all(Option::is_none));
        assert!(strs(&df, "mois_expedition")
            .iter()
            .all(|m| m.as_deref() == Some("2026-03")));
        assert!(strs(&df, "departement_destination")
            .iter()
            .all(|m| m.as_deref() == Some("37")));
    }

    #[test]
    fn in_progress_and_disordered_deliveries_are_kept_and_flagged() {
        let df = one(&[
            Row {
                status: "En  transit",
                dates: ["2026-03-11", "2026-03-12", "2026-03-17", ""],
                ..base("LIV-1")
            },
            Row {
                dates: ["2026-03-11", "2026-03-12", "2026-03-17", "2026-03-10"],
                ..base("LIV-2")
            },
        ]);
        assert_eq!(bools(&df, "en_cours"), [Some(true), Some(false)]);
        assert_eq!(
            strs(&df, "statut_livraison")[0].as_deref(),
            Some("en transit")
        );
        assert_eq!(
            bools(&df, "ordre_dates_incoherent"),
            [Some(false), Some(true)]
        );
        assert_eq!(ints(&df, "delai_livraison_jours_ouvres"), [None, None]);
        assert_eq!(dates_of(&df, "date_livraison_reelle")[1], "2026-03-10");
    }

    #[test]
    fn later_files_replace_earlier_rows_and_exact_copies_collapse() {
        let early = format!(
            "{HEADER}\n{}\n{}\n",
            row(&Row {
                status: "Expédié",
                dates: ["2026-03-11", "2026-03-12", "2026-03-17", ""],
                ..base("LIV-1")
            }),
            row(&base("LIV-2")),
        );
        let late = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row(&Row {
                status: "En transit",
                dates: ["2026-03-11", "2026-03-12", "2026-03-17", ""],
                ..base("LIV-1")
            }),
            row(&Row {
                status: "LIVRÉ",
                ..base("LIV-1")
            }),
            row(&Row {
                status: "LIVRÉ",
                ..base("LIV-1")
            }),
        );
        for flip in [false, true] {
            let mut objs = vec![
                (
                    "bronze/logistic_partner_data/2026-03-17/livraisons_0000.x.csv",
                    early.clone(),
                ),
                (
                    "bronze/logistic_partner_data/2026-03-17/livraisons_0400.x.csv",
                    late.clone(),
                ),
            ];
            if flip {
                objs.reverse();
            }
            let (out, counts, _) = run(&objs);
            let df = &out[0].1;
            assert_eq!(
                strs(df, "statut_livraison"),
                [Some("livré".into()), Some("livré".into())]
            );
            // Rows come in (bronze key, line) order: LIV-2 of the first file,
            // then LIV-1 from the last row of the second.
            assert_eq!(
                strs(df, "livraison_id"),
                [Some("LIV-2".into()), Some("LIV-1".into())]
            );
            let lines: Vec<_> = df
                .column("bronze_line")
                .unwrap()
                .i64()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(lines, [Some(3), Some(4)]);
            assert!(strs(df, "bronze_key")[1]
                .as_deref()
                .unwrap()
                .contains("_0400."));
            assert_eq!(counts.deduplicated, 3);
            assert_eq!((counts.rows_in, counts.rows_out), (5, 5));
        }
    }

    #[test]
    fn partitions_by_destination_and_shipping_month() {
        let body = format!(
            "{HEADER}\n{}\n{}\n{}\n",
            row(&base("LIV-1")),
            row(&Row {
                pays: "Frnace",
                dates: ["2026-02-25", "2026-02-27", "2026-03-03", "2026-03-03"],
                ..base("LIV-3")
            }),
            row(&Row {
                pays: " belgique ",
                ..base("LIV-2")
            }),
        );
        let (out, counts, _) = run(&[("k", body)]);
        let names: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "logistics/pays_destination=BE/mois_expedition=2026-03",
                "logistics/pays_destination=FR/mois_expedition=2026-03",
                "logistics/pays_destination=__null__/mois_expedition=2026-02",
            ]
        );
        assert_eq!(strs(&out[0].1, "departement_destination"), [None]);
        assert_eq!(strs(&out[0].1, "pays_destination"), [Some("BE".into())]);
        assert_eq!(bools(&out[2].1, "pays_inconnu"), [Some(true)]);
        assert_eq!(strs(&out[2].1, "pays_source"), [Some("Frnace".into())]);
        assert_eq!(strs(&out[2].1, "mois_expedition"), [Some("2026-02".into())]);
        assert_eq!(counts.flagged, 1);
    }

    #[test]
    fn gdpr_columns_do_not_survive() {
        let df = one(&[base("LIV-1")]);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for gone in [
            "commentaire_livreur",
            "ville_destination",
            "numero_suivi",
            "code_postal_dest",
        ] {
            assert!(!names.contains(&gone.to_string()), "{gone}");
        }
        let p = Pseudonymizer::new(b"test-key");
        assert_eq!(strs(&df, "customer_id")[0], Some(p.pseudo("CUST-000007")));
        assert_eq!(
            strs(&df, "numero_suivi_hash")[0],
            Some(p.pseudo("6A71016094769"))
        );
        let dump = format!("{df:?}");
        for pii in [
            "Dupont",
            "0612345678",
            "Tours",
            "37000",
            "6A71016094769",
            "CUST-000007",
        ] {
            assert!(!dump.contains(pii), "{pii} leaked");
        }
    }

    #[test]
    fn ragged_and_keyless_rows_are_rejected_with_their_line() {
        let good = row(&base("LIV-1"));
        let body = format!(
            "{HEADER}\n{good}\n{good};x\nLIV-9;short\n{}\n{}\n",
            row(&base("")),
            row(&Row {
                dates: ["2026-03-11", "", "", ""],
                ..base("LIV-4")
            }),
        );
        let (out, counts, rejects) = run(&[("k", body)]);
        let got: Vec<(u64, &str)> = rejects.iter().map(|r| (r.line, r.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (3, "line"),
                (4, "line"),
                (5, "livraison_id"),
                (6, "date_expédition")
            ]
        );
        assert_eq!((counts.rows_in, counts.rejected), (5, 4));
        assert_eq!(out[0].1.height(), 1);
    }

    #[test]
    fn unreadable_optional_values_are_nulled_and_named() {
        let df = one(&[Row {
            decimals: ["lourd", "4,88"],
            attempts: "-2",
            bools: ["peut-être", "oui"],
            ..base("LIV-1")
        }]);
        assert_eq!(
            strs(&df, INVALID_FIELDS)[0].as_deref(),
            Some("poids_kg,signature_requise,tentatives_livraison")
        );
        assert_eq!(ints(&df, "tentatives_livraison"), [None]);
    }
}
