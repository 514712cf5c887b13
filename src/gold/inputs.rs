//! The silver tables gold reads, and only the columns it uses (read with a
//! projection). A table that was never written is replaced by an empty frame
//! of the same columns, so every gold table still has its schema.

use polars::prelude::*;

use crate::store::Store;
use crate::table::{self, Zone};

fn ts() -> DataType {
    DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
}

/// A silver table gold reads.
pub struct Spec {
    pub table: &'static str,
    /// Without it, gold cannot be built (exit 2 naming it).
    pub required: bool,
    pub columns: Vec<(&'static str, DataType)>,
}

/// Every silver input, in reading order.
pub fn specs() -> Vec<Spec> {
    use DataType::{Boolean as B, Date as D, Float64 as F, Int32 as I, Int64 as L, String as S};
    vec![
        Spec {
            table: "crm",
            required: true,
            columns: vec![
                ("customer_id", S),
                ("civilite", S),
                ("age", I),
                ("departement", S),
                ("pays", S),
                ("statut", S),
                ("segment_client", S),
                ("lead_score", I),
                ("canal_acquisition", S),
                ("categorie_preferee", S),
                ("nb_commandes", I),
                ("lifetime_value_eur", F),
                ("kyc_requis", B),
                ("kyc_valide", B),
                ("newsletter_optin", B),
                ("date_creation_crm", ts()),
            ],
        },
        Spec {
            table: "orders",
            required: true,
            columns: vec![
                ("event_date", D),
                ("event_time", ts()),
                ("order_id", S),
                ("customer_id", S),
                ("event_type", S),
                ("total_amount", F),
                ("subtotal", F),
                ("discount", F),
                ("shipping_fee", F),
                ("items_count", I),
                ("coupon_code", S),
                ("delivery_country", S),
                ("delivery_method", S),
                ("channel", S),
            ],
        },
        Spec {
            table: "order_items",
            required: true,
            columns: vec![
                ("event_date", D),
                ("event_time", ts()),
                ("order_id", S),
                ("line_number", I),
                ("product_id", S),
                ("category", S),
                ("quantity", I),
                ("unit_price", F),
                ("line_amount", F),
            ],
        },
        Spec {
            table: "payments",
            required: false,
            columns: vec![
                ("event_date", D),
                ("event_time", ts()),
                ("payment_id", S),
                ("order_id", S),
                ("customer_id", S),
                ("amount", F),
                ("currency", S),
                ("amount_eur", F),
                ("status", S),
                ("payment_method", S),
                ("psp", S),
                ("risk_score", I),
                ("fraud_flag", B),
                ("billing_country", S),
                ("ip_country", S),
            ],
        },
        Spec {
            table: "logistics",
            required: false,
            columns: vec![
                ("livraison_id", S),
                ("order_id", S),
                ("customer_id", S),
                ("transporteur", S),
                ("statut_livraison", S),
                ("pays_destination", S),
                ("frais_livraison_eur", F),
                ("date_expedition", D),
                ("date_livraison_prevue", D),
                ("date_livraison_reelle", D),
                ("en_cours", B),
                ("retard_jours", I),
                ("delai_livraison_jours_ouvres", I),
                ("ordre_dates_incoherent", B),
                ("tentatives_livraison", I),
                ("motif_echec_retour", S),
            ],
        },
        Spec {
            table: "kyc",
            required: false,
            columns: vec![
                ("kyc_ref", S),
                ("customer_id", S),
                ("doc_type", S),
                ("statut_verification", S),
                ("motif_refus", S),
                ("date_soumission", D),
                ("mois_soumission", S),
                ("delai_traitement_jours_ouvres", I),
                ("delai_decision_jours_ouvres", I),
                ("sla_depasse", B),
                ("decision_tardive", B),
                ("document_valide_a_la_soumission", B),
            ],
        },
        Spec {
            table: "nginx",
            required: false,
            columns: vec![
                ("log_date", D),
                ("method", S),
                ("path", S),
                ("status_code", I),
                ("status_family", S),
                ("response_time_ms", L),
                ("is_bot", B),
            ],
        },
        Spec {
            table: "firebase",
            required: false,
            columns: vec![
                ("event_date", D),
                ("event_name", S),
                ("event_timestamp", ts()),
                ("event_id", S),
                ("user_id", S),
                ("is_anonymous", B),
                ("session_id", S),
                ("platform", S),
                ("country", S),
                ("product_id", S),
                ("price_eur", F),
                ("quantity", L),
                ("value_eur", F),
            ],
        },
    ]
}

/// The carrier name given to parcels whose carrier is missing.
pub const UNKNOWN_CARRIER: &str = "inconnu";

/// The silver inputs of a gold run.
pub struct Silver {
    crm: LazyFrame,
    orders: LazyFrame,
    order_items: LazyFrame,
    payments: LazyFrame,
    logistics: LazyFrame,
    kyc: LazyFrame,
    nginx: LazyFrame,
    firebase: LazyFrame,
    /// Optional tables that were not found (their aggregates are empty).
    pub missing: Vec<&'static str>,
    /// The inputs a builder asked for: what a gold table reads (`gold::reads`).
    used: std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
}

macro_rules! inputs {
    ($($table:ident),*) => {
        impl Silver {
            $(
                #[doc = concat!("Silver `", stringify!($table), "` (recorded as read).")]
                pub fn $table(&self) -> &LazyFrame {
                    if let Ok(mut u) = self.used.lock() {
                        u.insert(stringify!($table));
                    }
                    &self.$table
                }
            )*
        }
    };
}

inputs!(
    crm,
    orders,
    order_items,
    payments,
    logistics,
    kyc,
    nginx,
    firebase
);

impl Silver {
    /// The silver tables read since the last call (or since assembled),
    /// and start recording afresh: what one table's build asked for.
    pub fn take_used(&self) -> Vec<&'static str> {
        self.used
            .lock()
            .map(|mut u| std::mem::take(&mut *u).into_iter().collect())
            .unwrap_or_default()
    }
}

fn empty(spec: &Spec) -> LazyFrame {
    let cols: Vec<Column> = spec
        .columns
        .iter()
        .map(|(n, t)| Column::full_null((*n).into(), 0, t))
        .collect();
    DataFrame::new(0, cols)
        .unwrap_or_else(|_| DataFrame::empty())
        .lazy()
}

/// Read every silver input (projected), or fail naming a missing required one.
pub async fn read(store: &Store) -> anyhow::Result<Silver> {
    let mut frames = std::collections::BTreeMap::new();
    let mut missing = Vec::new();
    for spec in specs() {
        let names: Vec<&str> = spec.columns.iter().map(|c| c.0).collect();
        let lf = table::scan_lazy(store, Zone::Silver, spec.table, Some(&names)).await?;
        let lf = match lf {
            Some(lf) => lf.select(
                spec.columns
                    .iter()
                    .map(|(n, t)| col(*n).cast(t.clone()))
                    .collect::<Vec<_>>(),
            ),
            None if spec.required => anyhow::bail!(
                "silver table `{}` is missing from {}: run `kvt silver {}` first",
                spec.table,
                store.url(),
                if spec.table == "order_items" {
                    "orders"
                } else {
                    spec.table
                }
            ),
            None => {
                tracing::warn!(
                    table = spec.table,
                    "silver table missing: its gold aggregates will be empty"
                );
                missing.push(spec.table);
                empty(&spec)
            }
        };
        frames.insert(spec.table, lf);
    }
    Ok(assemble(frames, missing))
}

/// The `Silver` inputs of frames read (or built by a test), one per spec;
/// a table absent from `frames` is empty.
pub fn assemble(
    mut frames: std::collections::BTreeMap<&'static str, LazyFrame>,
    missing: Vec<&'static str>,
) -> Silver {
    for spec in specs() {
        frames.entry(spec.table).or_insert_with(|| empty(&spec));
    }
    let mut take = |t: &str| frames.remove(t).unwrap_or_default();
    Silver {
        crm: take("crm"),
        orders: take("orders"),
        order_items: take("order_items"),
        payments: take("payments"),
        // A parcel without a carrier still counts: under "inconnu", so that
        // no fact or KPI has a null carrier key.
        logistics: take("logistics").with_column(
            col("transporteur")
                .fill_null(lit(UNKNOWN_CARRIER))
                .alias("transporteur"),
        ),
        kyc: take("kyc"),
        nginx: take("nginx"),
        firebase: take("firebase"),
        missing,
        used: Default::default(),
    }
}
