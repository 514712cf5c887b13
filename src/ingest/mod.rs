//! Bronze ingestion: batch sources (`drive`) and Kafka topics.

pub mod drive;
pub mod gdrive;
pub mod kafka;
pub mod localdir;
pub mod source;
