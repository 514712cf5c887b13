//! `kvt silver logistics`: carrier partner deliveries. (Being written.)

use std::collections::BTreeSet;

use chrono::NaiveDate;
use polars::prelude::DataFrame;

use super::pseudo::Pseudonymizer;
use super::runner::Source;
use super::{Counts, Input, Reject};

/// The runner's view of the logistics source.
pub struct LogisticsSource {
    #[allow(dead_code)]
    pseudo: Pseudonymizer,
    #[allow(dead_code)]
    today: NaiveDate,
}

impl LogisticsSource {
    /// `today` is the run's date in Europe/Paris (ages, SLA flags).
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> LogisticsSource {
        LogisticsSource { pseudo, today }
    }
}

impl Source for LogisticsSource {
    fn name(&self) -> &'static str {
        "logistics"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["logistics"]
    }
    fn bronze_source(&self) -> &'static str {
        "logistics"
    }
    fn process(
        &mut self,
        _input: &Input,
        _first_line: u64,
        _block: &[u8],
        _keep: Option<&BTreeSet<String>>,
        _seen: &mut BTreeSet<String>,
        _rejects: &mut Vec<Reject>,
    ) -> anyhow::Result<Counts> {
        anyhow::bail!("kvt silver logistics is not implemented yet")
    }
    fn take(&mut self, _all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        Ok(Vec::new())
    }
}
