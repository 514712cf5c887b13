//! `kvt silver crm`: Salesforce CRM export. (Being written.)

use std::collections::BTreeSet;

use chrono::NaiveDate;
use polars::prelude::DataFrame;

use super::pseudo::Pseudonymizer;
use super::runner::Source;
use super::{Counts, Input, Reject};

/// The runner's view of the crm source.
pub struct CrmSource {
    #[allow(dead_code)]
    pseudo: Pseudonymizer,
    #[allow(dead_code)]
    today: NaiveDate,
}

impl CrmSource {
    /// `today` is the run's date in Europe/Paris (ages, SLA flags).
    pub fn new(pseudo: Pseudonymizer, today: NaiveDate) -> CrmSource {
        CrmSource { pseudo, today }
    }
}

impl Source for CrmSource {
    fn name(&self) -> &'static str {
        "crm"
    }
    fn tables(&self) -> &'static [&'static str] {
        &["crm"]
    }
    fn bronze_source(&self) -> &'static str {
        "crm"
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
        anyhow::bail!("kvt silver crm is not implemented yet")
    }
    fn take(&mut self, _all: bool) -> anyhow::Result<Vec<(String, DataFrame)>> {
        Ok(Vec::new())
    }
}
