//! Expressions every gold table uses: surrogate keys, date keys, rates,
//! months, endpoints. Pure polars expressions (and one column function for
//! the keys); the formulas are documented in docs/gold.md.

use polars::prelude::*;
use sha2::{Digest, Sha256};

/// Surrogate key of a natural key value for dimension `dim` (GOLD-STAR-4,
/// decision D-80): the first 8 bytes of SHA-256(`dim` NUL value), folded to a
/// positive 63-bit integer. The same value always gets the same key, in every
/// run, on every machine, after any rebuild; no state is kept. Collisions
/// (chance ~n²/2⁶⁴) are checked by [`check_unique`] before anything is written.
pub fn key_of(dim: &str, value: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(dim.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(b) & (i64::MAX as u64)) as i64
}

/// The surrogate key column of a string column (null stays null).
pub fn key(expr: Expr, dim: &'static str) -> Expr {
    expr.cast(DataType::String).map(
        move |c: Column| {
            let s = c.str()?;
            let out: Int64Chunked = s
                .iter()
                .map(|v| v.map(|v| key_of(dim, v)))
                .collect_ca(c.name().clone());
            Ok(out.into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Int64)),
    )
}

/// `YYYYMMDD` as an integer: the key of `dim_date`; null for a date outside
/// the calendar (`dim_date::first_day()` to `dim_date::last_day(as_of)`), so
/// that a fact never points at a missing day (decision D-89).
pub fn date_id(date: Expr, ctx: &super::Ctx) -> Expr {
    let id = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32
    };
    let (first, last) = (
        id(super::dim_date::first_day()),
        id(super::dim_date::last_day(ctx.as_of)),
    );
    let v = (date.clone().dt().year().cast(DataType::Int32) * lit(10_000)
        + date.clone().dt().month().cast(DataType::Int32) * lit(100)
        + date.dt().day().cast(DataType::Int32))
    .cast(DataType::Int32);
    when(v.clone().gt_eq(lit(first)).and(v.clone().lt_eq(lit(last))))
        .then(v)
        .otherwise(lit(NULL).cast(DataType::Int32))
}

/// The `date_id` of one known day, as a literal (null outside the calendar).
pub fn date_id_of(d: chrono::NaiveDate, ctx: &super::Ctx) -> Expr {
    use chrono::Datelike;
    if d >= super::dim_date::first_day() && d <= super::dim_date::last_day(ctx.as_of) {
        lit(d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32)
    } else {
        lit(NULL).cast(DataType::Int32)
    }
}

/// The `date_id` of the first day of a `YYYY-MM` month (the monthly tables'
/// join to `dim_date`, GOLD-PROD-1, GOLD-KYC-1, GOLD-LOG-1, GOLD-COM-3);
/// null outside the calendar.
pub fn month_date_id(annee_mois: Expr, ctx: &super::Ctx) -> Expr {
    date_id(
        (annee_mois + lit("-01")).str().to_date(StrptimeOptions {
            format: Some("%Y-%m-%d".into()),
            strict: false,
            ..Default::default()
        }),
        ctx,
    )
}

/// `YYYY-MM` of a date.
pub fn month(date: Expr) -> Expr {
    date.dt().strftime("%Y-%m")
}

/// `num ÷ den × 100`, null when the denominator is 0 or null.
pub fn pct(num: Expr, den: Expr) -> Expr {
    when(den.clone().gt(lit(0)))
        .then(num.cast(DataType::Float64) / den.cast(DataType::Float64) * lit(100.0))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

/// The 95th percentile as PostgreSQL `percentile_cont(0.95)` computes it
/// (linear interpolation between the closest ranks).
pub fn p95(e: Expr) -> Expr {
    e.cast(DataType::Float64)
        .quantile(lit(0.95), QuantileMethod::Linear)
}

/// `e` bounded to [0, 100].
pub fn clamp_0_100(e: Expr) -> Expr {
    when(e.clone().lt(lit(0.0)))
        .then(lit(0.0))
        .when(e.clone().gt(lit(100.0)))
        .then(lit(100.0))
        .otherwise(e)
}

/// The sum of euro amounts (in an aggregation), computed in whole cents:
/// exact, and the same whatever order the engine adds the rows in (a float
/// sum is not), so the same silver gives the same bytes (D-80).
pub fn sum_eur(e: Expr) -> Expr {
    (e * lit(100.0))
        .round(0, RoundMode::HalfAwayFromZero)
        .cast(DataType::Int64)
        .sum()
        .cast(DataType::Float64)
        / lit(100.0)
}

/// The mean of euro amounts (in an aggregation), from [`sum_eur`].
pub fn mean_eur(e: Expr) -> Expr {
    let n = e.clone().count();
    when(n.clone().gt(lit(0)))
        .then(sum_eur(e) / n.cast(DataType::Float64))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

/// Count of rows where `cond` holds (in an aggregation).
pub fn count_if(cond: Expr) -> Expr {
    cond.cast(DataType::UInt32).sum().cast(DataType::Int64)
}

/// An endpoint: the request path with identifiers replaced by `{id}`, so
/// that `/produit/PRD-00042` and `/produit/PRD-00043` are one endpoint
/// (OQ-19, D-86). A segment is an identifier when it is a number, a code
/// like `PRD-00042` / `CMD-2026-001`, or a long hex/UUID.
pub fn endpoint(path: Expr) -> Expr {
    const ID: &str = r"/(?:[0-9]+|[A-Za-z]{1,6}-[0-9][0-9A-Za-z-]*|[0-9a-fA-F-]{16,})(/|$)";
    // Twice: a match consumes the slash that the next identifier starts with.
    path.str()
        .replace_all(lit(ID), lit("/{id}$1"), false)
        .str()
        .replace_all(lit(ID), lit("/{id}$1"), false)
}

/// A rank (1 = first) among all rows: ties share the smallest rank, as SQL
/// `rank()` does.
pub fn rank_desc(e: Expr) -> Expr {
    e.rank(
        RankOptions {
            method: RankMethod::Min,
            descending: true,
        },
        None,
    )
    .cast(DataType::Int32)
}

/// Fail when two distinct natural keys got one surrogate key.
pub fn check_unique(df: &DataFrame, key: &str, natural: &str) -> anyhow::Result<()> {
    let keys = df.column(key)?.n_unique()?;
    let naturals = df.column(natural)?.n_unique()?;
    anyhow::ensure!(
        keys == naturals && keys == df.height(),
        "surrogate key collision or duplicate in {key} ({keys} keys for {naturals} values, {} rows)",
        df.height()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_positive_and_distinct() {
        let a = key_of("client", "abc");
        assert_eq!(a, key_of("client", "abc"));
        assert!(a > 0);
        assert_ne!(a, key_of("produit", "abc"));
        // Pinned: a key never changes between versions of kvt.
        assert_eq!(key_of("client", "abc"), 3_280_893_472_156_062_658);
    }

    #[test]
    fn endpoints_fold_identifiers() {
        let df = df! { "p" => ["/produit/PRD-00042", "/api/commandes/12/lignes/3", "/", "/panier",
            "/compte/5f0c6b6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "/produit/PRD-00043/avis", "/aide/livraison"] }
        .unwrap();
        let out = df.lazy().select([endpoint(col("p"))]).collect().unwrap();
        let got: Vec<String> = out
            .column("p")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "/produit/{id}",
                "/api/commandes/{id}/lignes/{id}",
                "/",
                "/panier",
                "/compte/{id}",
                "/produit/{id}/avis",
                "/aide/livraison"
            ]
        );
    }

    #[test]
    fn percentile_is_postgres_percentile_cont() {
        // percentile_cont(0.95) of 1..=10 is 9.55.
        let df = df! { "x" => (1..=10).collect::<Vec<i32>>() }.unwrap();
        let out = df.lazy().select([p95(col("x"))]).collect().unwrap();
        let v = out.column("x").unwrap().f64().unwrap().get(0).unwrap();
        assert!((v - 9.55).abs() < 1e-9, "{v}");
    }
}
