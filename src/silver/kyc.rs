//! `kvt silver kyc`: KYC provider export. (Being written.)

use std::collections::BTreeSet;

use chrono::NaiveDate;
use polars::prelude::DataFrame;

use super::pseudo::Pseudonymizer;
use super::runner::Source;
use super::{Counts, Input, Reject};

/// The runner's view of the kyc source.
pub struct KycSource {
    #[allow(dead_code)]
    pseudo: Pseudonymizer,
    #[allow(dead_code)]
    today: NaiveDate,
}

impl KycSource {
    /// `today` is the run's date in Europe/Paris (ages, SLA flags).
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> KycSource {
        KycSource { pseudo, today }
    }
}

impl Source for KycSource {
    fn name(&self) -> &'static str {
        "kyc"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["kyc"]
    }
    fn bronze_source(&self) -> &'static str {
        "kyc"
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
        anyhow::bail!("kvt silver kyc is not implemented yet")
    }
    fn take(&mut self, _all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        Ok(Vec::new())
    }
}
