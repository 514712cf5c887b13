//! `dim_pays`: the ISO 3166 countries shipped with kvt (docs/contracts.md
//! C8): `pays_id` is the ISO numeric code (stable forever), then the alpha-2
//! code, the French name, the geographic zone and EU membership.

use polars::prelude::*;

use super::countries::{by_alpha2, COUNTRIES};

/// The `pays_id` of an alpha-2 column (null for an unknown or null code).
pub fn pays_id(alpha2: Expr) -> Expr {
    alpha2.cast(DataType::String).map(
        |c: Column| {
            let out: Int32Chunked = c
                .str()?
                .iter()
                .map(|v| v.and_then(by_alpha2).map(|p| i32::from(p.numeric)))
                .collect_ca(c.name().clone());
            Ok(out.into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::Int32)),
    )
}

pub fn build() -> LazyFrame {
    let df = DataFrame::new(
        COUNTRIES.len(),
        vec![
            Column::new(
                "pays_id".into(),
                COUNTRIES
                    .iter()
                    .map(|c| i32::from(c.numeric))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "code_iso".into(),
                COUNTRIES.iter().map(|c| c.alpha2).collect::<Vec<_>>(),
            ),
            Column::new(
                "nom".into(),
                COUNTRIES.iter().map(|c| c.nom).collect::<Vec<_>>(),
            ),
            Column::new(
                "zone".into(),
                COUNTRIES.iter().map(|c| c.zone).collect::<Vec<_>>(),
            ),
            Column::new(
                "membre_ue".into(),
                COUNTRIES.iter().map(|c| c.ue).collect::<Vec<_>>(),
            ),
        ],
    )
    .unwrap_or_else(|_| DataFrame::empty());
    df.lazy().sort(["pays_id"], SortMultipleOptions::default())
}
