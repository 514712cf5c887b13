//! kvt — the KiVendTout data platform as composable commands.
//!
//! Stage map (each command reads one zone and writes the next):
//!
//! ```text
//! Drive folders / local drops ─ ingest drive ─┐
//!                                              ├─> bronze (raw bytes + manifests)
//! ```
//!
//! Invariants every command keeps:
//! - bronze is never modified once written (new versions land next to old ones);
//! - every write is atomic per object; a failed run leaves the previous good output;
//! - stdout carries data only, ending with one JSON summary line; logs go to stderr;
//! - exit 0 = success, 1 = the data said no, 2 = error.

pub mod bronze;
pub mod calendar;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod env;
pub mod fraud;
#[cfg(test)]
pub mod fuzz;
pub mod gen;
pub mod gold;
pub mod history;
pub mod influx;
pub mod ingest;
pub mod json;
pub mod kafka;
pub mod kyc;
pub mod lineage;
pub mod localfs;
pub mod lock;
pub mod metrics;
pub mod run;
pub mod secret;
pub mod silver;
pub mod status;
pub mod store;
pub mod table;
#[cfg(test)]
pub mod testkit;
pub mod warehouse;
