//! Bronze: raw data as it landed, below both ingestion (which writes it) and
//! silver (which reads it), so that neither imports the other.
//!
//! - [`manifest`]: the batch manifest (`bronze/_manifests/<source>.jsonl`),
//!   one line per landed file version, and what makes two landings versions
//!   of one file.
//! - [`kafka`]: the envelope of a Kafka message in bronze JSONL, its event
//!   date, and the Kafka manifest.
//! - [`events`]: the Kafka message types of CONTRACTS C1 (fields, required
//!   fields), shared by silver and the streaming jobs.

pub mod events;
pub mod kafka;
pub mod manifest;
